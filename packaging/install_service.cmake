# Run by `cmake --install` and cpack (install(CODE) in CMakeLists.txt): puts
# the example config and the systemd unit where the prefix chosen at install
# time wants them. Inputs: BKP_EXAMPLE_CONFIG, BKP_UNIT_TEMPLATE,
# BKP_UNIT_STAGING; CMAKE_INSTALL_PREFIX is the install's (cpack: /usr).
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(HOSTD_CONFDIR /etc/hostd)
else()
  set(HOSTD_CONFDIR ${CMAKE_INSTALL_PREFIX}/etc/hostd)
endif()
set(HOSTD_BINDIR ${CMAKE_INSTALL_PREFIX}/bin)

# An operator's edited config is never overwritten: the new example goes
# beside it as hostd.toml.example. (The Debian package marks it a conffile,
# so dpkg asks instead.)
set(config_name hostd.toml)
if(EXISTS "$ENV{DESTDIR}${HOSTD_CONFDIR}/hostd.toml")
  file(READ "$ENV{DESTDIR}${HOSTD_CONFDIR}/hostd.toml" installed)
  file(READ "${BKP_EXAMPLE_CONFIG}" example)
  if(NOT installed STREQUAL example)
    set(config_name hostd.toml.example)
    message(STATUS "Keeping ${HOSTD_CONFDIR}/hostd.toml; the new example is hostd.toml.example")
  endif()
endif()
file(INSTALL "${BKP_EXAMPLE_CONFIG}" DESTINATION "${HOSTD_CONFDIR}" RENAME ${config_name}
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)

configure_file("${BKP_UNIT_TEMPLATE}" "${BKP_UNIT_STAGING}/hostd.service" @ONLY)
file(INSTALL "${BKP_UNIT_STAGING}/hostd.service"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
