# Writes OUT = `HOSTD config show --example --config OVERRIDES` (see
# CMakeLists.txt), failing the build with hostd's message if it fails.
execute_process(
  COMMAND ${HOSTD} config show --example --config ${OVERRIDES}
  OUTPUT_FILE ${OUT}.tmp
  ERROR_VARIABLE error
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  file(REMOVE ${OUT}.tmp)
  message(FATAL_ERROR "hostd config show --example failed (${result}): ${error}")
endif()
file(RENAME ${OUT}.tmp ${OUT})
