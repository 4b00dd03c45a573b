#!/bin/bash
# SPDX-License-Identifier: AGPL-3.0-or-later
# Installs, with apt-get, whatever of the build and test dependencies is missing (Debian 12, root).
# Usage: tests/deps.sh build|test|demo
set -eu

build=(cmake gcc make pkg-config libconfig-dev libsystemd-dev libcurl4-openssl-dev libsodium-dev
       libjson-c-dev)
test=(libcmocka-dev busybox curl python3 haproxy iproute2 dbus systemd procps groff-base dpkg-dev
      clang libclang-rt-14-dev valgrind openssl util-linux passwd etcd-server etcd-client file binutils
      lintian bash-completion monitoring-plugins-basic monitoring-plugins-standard redis-server
      prometheus)
demo=(busybox curl python3 haproxy iproute2 procps)

case "${1:-test}" in
build) want=("${build[@]}") ;;
demo) want=("${build[@]}" "${demo[@]}") ;;
*) want=("${build[@]}" "${test[@]}") ;;
esac

missing=()
for p in "${want[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or install them)" >&2
        exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
