# SPDX-License-Identifier: AGPL-3.0-or-later
# The Debian package. Build it from a build directory configured for the system paths:
#   cmake -S . -B build-deb -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_SYSCONFDIR=/etc
#   cmake --build build-deb && (cd build-deb && cpack -G DEB)
# which gives /usr/sbin, /usr/lib/vacataire/plugins, /usr/libexec/vacataire, /etc/vacataire.conf
# and /usr/lib/systemd/system/vacataire.service.

# Where etc/vacataire.conf really lands: GNUInstallDirs keeps a relative sysconfdir under the
# prefix (/usr/etc for /usr) even though the daemon looks in CMAKE_INSTALL_FULL_SYSCONFDIR (/etc).
if(IS_ABSOLUTE "${CMAKE_INSTALL_SYSCONFDIR}")
  set(VACATAIRE_CONF_INSTALL_DIR "${CMAKE_INSTALL_SYSCONFDIR}")
else()
  set(VACATAIRE_CONF_INSTALL_DIR "${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_SYSCONFDIR}")
endif()
if(NOT VACATAIRE_CONF_INSTALL_DIR STREQUAL CMAKE_INSTALL_FULL_SYSCONFDIR)
  message(WARNING "vacataire.conf would be installed in ${VACATAIRE_CONF_INSTALL_DIR} but the "
                  "daemon reads ${CMAKE_INSTALL_FULL_SYSCONFDIR}/vacataire.conf: configure with "
                  "-DCMAKE_INSTALL_SYSCONFDIR=${CMAKE_INSTALL_FULL_SYSCONFDIR}")
endif()

# The key's directory (auth.key_file of the reference configuration), root-only so that a key
# written into it with a loose umask is still not readable by others on the way.
install(DIRECTORY DESTINATION ${CMAKE_INSTALL_SYSCONFDIR}/vacataire
        DIRECTORY_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)

set(VACATAIRE_DEBIAN_DIR ${CMAKE_BINARY_DIR}/debian)
set(VACATAIRE_UNIT vacataire.service)
foreach(script postinst prerm postrm)
  # The sources are executable; configure_file keeps their mode, which dpkg-deb requires.
  configure_file(${CMAKE_CURRENT_LIST_DIR}/debian/${script}.in ${VACATAIRE_DEBIAN_DIR}/${script}
                 @ONLY)
endforeach()
# A conffile: dpkg keeps the administrator's edits on upgrade and removes it only on purge.
file(WRITE ${VACATAIRE_DEBIAN_DIR}/conffiles "${VACATAIRE_CONF_INSTALL_DIR}/vacataire.conf\n")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME vacataire)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "vacataire developers")
set(CPACK_PACKAGE_CONTACT "vacataire developers <maintainers@vacataire.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "master/standby failover agent")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "vacataire runs on each of two servers behind a load balancer and keeps the protected "
       "services running on exactly one of them. Check plugins (pcheck, memcheck, content, exec, "
       "tcp, or your own) watch the active server; on a failure the services move to the peer over "
       "an authenticated, encrypted TCP link. An optional etcd arbiter makes sure two nodes never "
       "serve at once.")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/COPYING)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})

# Two packages: the agent, and vacataire-dev with the plugin header for out-of-tree plugins.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL vacataire dev)
set(CPACK_DEBIAN_VACATAIRE_PACKAGE_NAME vacataire)
set(CPACK_DEBIAN_DEV_PACKAGE_NAME vacataire-dev)
# CPack puts the summary above each description. Lines are wrapped by hand: lintian wants at
# most 80 columns.
string(CONCAT CPACK_COMPONENT_VACATAIRE_DESCRIPTION
       "vacataire runs on each of two servers behind a load balancer and keeps the\n"
       "protected services running on exactly one of them. Check plugins (pcheck,\n"
       "memcheck, content, exec, tcp, or your own) watch the active server; on a\n"
       "failure the services move to the peer over an authenticated, encrypted TCP\n"
       "link. An optional etcd arbiter makes sure two nodes never serve at once.")
string(CONCAT CPACK_COMPONENT_DEV_DESCRIPTION
       "This package holds vacataire-plugin.h, the versioned ABI of vacataire's check\n"
       "plugins, to build a plugin out of tree. See vacataire-plugin(7).")
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "vacataire (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_DEV_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION devel)

# Stripped binaries; the debug information goes to vacataire-dbgsym (a .ddeb, as Debian's
# automatic dbgsym packages).
set(CPACK_STRIP_FILES OFF) # CPack strips them itself once the dbgsym package has their debug info
set(CPACK_DEBIAN_DEBUGINFO_PACKAGE ON)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # vacataire_<version>_<arch>.deb, vacataire-dev_...
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "vacataire developers <maintainers@vacataire.invalid>")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_LICENSE AGPL-3.0-or-later)
# Depends from the ELF files (libconfig9, libsystemd0, libsodium23, libcurl4, libc6).
set(CPACK_DEBIAN_VACATAIRE_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_VACATAIRE_PACKAGE_CONTROL_EXTRA
    ${VACATAIRE_DEBIAN_DIR}/conffiles ${VACATAIRE_DEBIAN_DIR}/postinst
    ${VACATAIRE_DEBIAN_DIR}/prerm ${VACATAIRE_DEBIAN_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
