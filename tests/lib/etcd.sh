# SPDX-License-Identifier: AGPL-3.0-or-later
# A real 3-member etcd (Debian etcd-server) for the arbiter: members on hosts a and b (beside the
# agents) and on a third host c that runs only etcd, the tie-breaker. Sourced after netns.sh:
#
#   c    10.213.X.13  eth0 (veth VN"c"0 in lb); etcd member only
#   each member: clients on <host ip>:2379 and 127.0.0.1:2379, peers on <host ip>:2380
#
# Cutting a host's link (vn_cut) partitions its member too: the minority loses its lease, the
# majority can take the key. Members are stopped and started by name (ve_stop, ve_start).

VE_TTL=${VE_TTL:-3}
declare -A VE_PID=()

vn_ip() {
        case $1 in
        lb) echo "$VN_LB_IP" ;;
        "$VN_A") echo "$VN_NET.11" ;;
        "$VN_B") echo "$VN_NET.12" ;;
        c) echo "$VN_NET.13" ;;
        *) vc_fail "unknown host $1" ;;
        esac
}

ve_require() {
        command -v etcd >/dev/null || vc_fail "etcd is not installed (apt-get install etcd-server)"
}

ve_cluster() { echo "$VN_A=http://$(vn_ip "$VN_A"):2380,$VN_B=http://$(vn_ip "$VN_B"):2380,c=http://$(vn_ip c):2380"; }
ve_endpoints() { # the arbiter's etcd list for a node: its own member first
        local first=$1 h out=""
        for h in "$first" "$VN_A" "$VN_B" c; do
                case " $out " in *"$(vn_ip "$h"):2379"*) continue ;; esac
                out="$out${out:+, }\"http://$(vn_ip "$h"):2379\""
        done
        echo "$out"
}

ve_start() { # ve_start HOST: (re)starts HOST's member, keeping its data
        local h=$1 ip state=new
        ip=$(vn_ip "$h")
        [ -d "$VC_TMP/etcd-$h/member" ] && state=existing
        mkdir -p "$VC_TMP/etcd-$h"
        chmod 700 "$VC_TMP/etcd-$h"
        ip netns exec "$(vn_ns "$h")" etcd --name "$h" --data-dir "$VC_TMP/etcd-$h" \
                --listen-peer-urls "http://$ip:2380" --initial-advertise-peer-urls "http://$ip:2380" \
                --listen-client-urls "http://$ip:2379,http://127.0.0.1:2379" \
                --advertise-client-urls "http://$ip:2379" --initial-cluster "$(ve_cluster)" \
                --initial-cluster-state "$state" --initial-cluster-token "$VN" \
                --heartbeat-interval 100 --election-timeout 500 --pre-vote >>"$VC_TMP/etcd-$h.log" 2>&1 &
        VE_PID[$h]=$!
}

ve_stop() { # ve_stop HOST [SIGNAL]
        local h=$1
        [ -n "${VE_PID[$h]:-}" ] || return 0
        kill "-${2:-KILL}" "${VE_PID[$h]}" 2>/dev/null
        wait "${VE_PID[$h]}" 2>/dev/null
        VE_PID[$h]=
}

# A linearizable read through HOST's member: only a member in the majority answers.
ve_healthy() { # ve_healthy HOST
        vn_exec "$1" curl -sf -m 1 -X POST "http://127.0.0.1:2379/v3/kv/range" -d '{"key":"eA=="}' \
                | grep -q '"revision"'
}

ve_wait_healthy() { # ve_wait_healthy HOST... [waits up to 20 s]
        local h i
        for h in "$@"; do
                for i in $(seq 200); do
                        ve_healthy "$h" && break
                        [ "$i" -eq 200 ] && vc_fail "etcd member $h is not healthy: $(tail -3 "$VC_TMP/etcd-$h.log")"
                        sleep 0.1
                done
        done
}

ve_up() { # host c, then the three members
        ve_require
        vn_add_host c
        ve_start "$VN_A"
        ve_start "$VN_B"
        ve_start c
        ve_wait_healthy "$VN_A" "$VN_B" c
        vc_log "etcd: members $VN_A, $VN_B, c up (ttl $VE_TTL s)"
}

# The key's holder as etcd sees it, through HOST's member ("none" if free, "?" if unknown).
ve_holder() { # ve_holder HOST
        vn_exec "$1" curl -s -m 1 -X POST "http://127.0.0.1:2379/v3/kv/range" \
                -d "{\"key\":\"$(printf '%s' "/vacataire/$VN" | base64 -w0)\"}" 2>/dev/null |
                python3 -c 'import base64,json,sys
try:
    kvs = json.load(sys.stdin).get("kvs", [])
    print(base64.b64decode(kvs[0]["value"]).decode().split()[0] if kvs else "none")
except Exception:
    print("?")'
}

# Adds the arbiter to a node's config (after vn_node).
ve_node_arbiter() { # ve_node_arbiter NAME
        cat >>"$VC_TMP/$1/vacataire.conf" <<EOC
arbiter = { etcd = [ $(ve_endpoints "$1") ]; key = "/vacataire/$VN"; ttl = $VE_TTL.0; };
EOC
}

ve_pair_up() { # like vn_pair_up, with the arbiter: a = master (holds the key), b = standby
        vn_node "$VN_A" master "$VN_B"
        vn_node "$VN_B" standby "$VN_A"
        ve_node_arbiter "$VN_A"
        ve_node_arbiter "$VN_B"
        vn_start "$VN_A"
        vn_start "$VN_B"
        vc_wait_state "$VN_A" active 20
        vc_wait_state "$VN_B" passive 10
        vn_wait_serving "$VN_A" yes 5
        vn_wait_serving "$VN_B" no 1
        vc_log "pair up with the arbiter: $VN_A active (holder $(ve_holder c)), $VN_B passive"
}
