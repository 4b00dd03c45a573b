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
set(CPACK_PACKAGE_CONTACT "vacataire developers")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "master/standby failover agent")
string(CONCAT CPACK_PACKAGE_DESCRIPTION
       "vacataire runs on each of two servers behind a load balancer and keeps the protected "
       "services running on exactly one of them. Check plugins (pcheck, memcheck, content, or "
       "your own) watch the active server; on a failure the services move to the peer over an "
       "authenticated TCP link.")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_SOURCE_DIR}/COPYING)
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES OFF)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT) # vacataire_<version>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "vacataire developers")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_LICENSE AGPL-3.0-or-later)
# Depends from the ELF files (libconfig9, libsystemd0, libsodium23, libcurl4, libc6).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${VACATAIRE_DEBIAN_DIR}/conffiles ${VACATAIRE_DEBIAN_DIR}/postinst
    ${VACATAIRE_DEBIAN_DIR}/prerm ${VACATAIRE_DEBIAN_DIR}/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
