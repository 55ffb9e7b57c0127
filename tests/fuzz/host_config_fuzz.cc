// libFuzzer target: ParseHostConfig on arbitrary text. It reports every
// problem as a Status; nothing may escape it.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "config/host_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)hoststub::ParseHostConfig(text, "fuzz.toml");
  return 0;
}
