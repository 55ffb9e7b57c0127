# bkp_add_provider(): builds a backup provider the way the host loads it.
# Used in this tree and, installed beside bkp_plugin_apiConfig.cmake, by
# third-party provider projects after find_package(bkp_plugin_api 1).
include_guard(GLOBAL)

# bkp_add_provider(<name> [OUTPUT_DIR dir] SOURCES src...)
#
# Creates the MODULE library target bkp_provider_<name>, file bkp_<name>.so
# (in OUTPUT_DIR if given), linked to bkp::plugin_api. Add sources, include
# directories or libraries to that target as usual.
#
# The one exported symbol is bkp_plugin_entry, and the build enforces it:
#  - hidden visibility keeps the plugin's own functions out of the dynamic
#    symbol table;
#  - a linker version script hides what visibility cannot: the C++ standard
#    library declares namespace std with default visibility, so every
#    std:: template a C++ plugin instantiates (vector growth, to_chars tables)
#    would otherwise be exported as a weak or GNU-unique symbol, the latter
#    making the library impossible to unload;
#  - -z defs turns a missing symbol into a link error instead of a refusal
#    at the host's RTLD_NOW load.
# Each target is also appended to the global property BKP_PROVIDER_TARGETS,
# so a build can check every provider it made (tests/plugin_api does).
# ELF platforms only (GNU ld, gold, lld).
function(bkp_add_provider name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIR" "SOURCES" ${ARGN})
  if(ARG_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "bkp_add_provider(${name}): unexpected arguments: ${ARG_UNPARSED_ARGUMENTS}")
  endif()
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "bkp_add_provider(${name}): SOURCES is required")
  endif()
  if(NOT TARGET bkp::plugin_api)
    message(FATAL_ERROR "bkp_add_provider(${name}): target bkp::plugin_api is missing; "
                        "call find_package(bkp_plugin_api 1 REQUIRED) first")
  endif()

  # One script per build tree; file(CONFIGURE) rewrites it only when the
  # content changes, so it does not force relinks.
  set(exports_map ${CMAKE_BINARY_DIR}/bkp_plugin_exports.map)
  file(CONFIGURE OUTPUT ${exports_map} CONTENT "{\n  global: bkp_plugin_entry;\n  local: *;\n};\n")

  set(target bkp_provider_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE bkp::plugin_api)
  set_target_properties(${target} PROPERTIES
    PREFIX ""
    OUTPUT_NAME bkp_${name}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    LINK_DEPENDS ${exports_map})
  target_link_options(${target} PRIVATE -Wl,-z,defs -Wl,--version-script=${exports_map})
  if(ARG_OUTPUT_DIR)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIR})
  endif()
  set_property(GLOBAL APPEND PROPERTY BKP_PROVIDER_TARGETS ${target})
endfunction()
