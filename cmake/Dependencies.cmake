# Finds every third-party package the build uses. Each comes from a Debian
# package; when one is missing the configure step stops with the name of the
# package to install (scripts/setup.sh installs them all).

find_package(PkgConfig QUIET)

function(bkp_missing what debian_package)
  message(FATAL_ERROR
    "${what} not found. Install the Debian package '${debian_package}' "
    "(or run scripts/setup.sh, which installs every dependency).")
endfunction()

# CMake config packages: name, Debian package.
macro(bkp_find_config name debian_package)
  find_package(${name} ${ARGN} QUIET CONFIG)
  if(NOT ${name}_FOUND)
    bkp_missing("${name}" "${debian_package}")
  endif()
endmacro()

# pkg-config modules, exposed as PkgConfig::<target>.
macro(bkp_find_pkg target module debian_package)
  if(NOT PKG_CONFIG_FOUND)
    bkp_missing("pkg-config" "pkg-config")
  endif()
  pkg_check_modules(${target} QUIET IMPORTED_TARGET GLOBAL ${module})
  if(NOT ${target}_FOUND)
    bkp_missing("${module}" "${debian_package}")
  endif()
endmacro()

find_package(Threads REQUIRED)
find_package(Boost 1.74 QUIET COMPONENTS filesystem)
if(NOT Boost_FOUND)
  bkp_missing("Boost (filesystem, for Boost.DLL)" "libboost-filesystem-dev")
endif()
bkp_find_config(fmt libfmt-dev)
bkp_find_config(tomlplusplus libtomlplusplus-dev)
bkp_find_config(CLI11 libcli11-dev)
bkp_find_config(nlohmann_json nlohmann-json3-dev)
bkp_find_pkg(LZ4 liblz4 liblz4-dev)
# zstd objects (compression = "zstd", plugins/repo/zstd_frame.cc).
bkp_find_pkg(ZSTD libzstd libzstd-dev)
bkp_find_pkg(XXHASH libxxhash libxxhash-dev)
bkp_find_pkg(SQLITE3 sqlite3 libsqlite3-dev)
bkp_find_pkg(HTTPLIB cpp-httplib libcpp-httplib-dev)
# The S3 storage driver (plugins/repo/s3).
bkp_find_pkg(CURL libcurl libcurl4-openssl-dev)
bkp_find_pkg(LIBCRYPTO libcrypto libssl-dev)
# TLS of the admin API (server and hostctl) and its token hashes.
bkp_find_pkg(LIBSSL libssl libssl-dev)
# sd_notify: hostd serve tells systemd it is ready (Type=notify).
bkp_find_pkg(LIBSYSTEMD libsystemd libsystemd-dev)
if(BKP_BUILD_TESTS)
  bkp_find_config(doctest doctest-dev)
endif()
if(BKP_BUILD_BENCH)
  bkp_find_config(benchmark libbenchmark-dev)
endif()
