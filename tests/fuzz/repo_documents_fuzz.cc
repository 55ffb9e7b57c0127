// libFuzzer target: DecodeManifest and DecodeArchiveRecord on arbitrary
// bytes. Any outcome but a bkp::Error (a crash, a sanitizer report, another
// exception) is a bug: a repository's files are untrusted input.
#include <cstddef>
#include <cstdint>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "repo/archive_record.h"
#include "repo/manifest.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    repo::DecodeManifest(text, "fuzzed manifest");
  } catch (const bkp::Error&) {
  }
  try {
    repo::DecodeArchiveRecord(text, "fuzzed archive record");
  } catch (const bkp::Error&) {
  }
  return 0;
}
