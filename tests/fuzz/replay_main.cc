// Replays saved fuzz inputs through a libFuzzer target's entry point, without
// libFuzzer: every file named on the command line, or found directly in a
// directory named there, is read and handed to LLVMFuzzerTestOneInput once.
//
// Why: the libFuzzer build needs clang and instruments the host's libraries
// again, which costs CI minutes a ten-second fuzz run does not repay. The
// inputs that matter on every run are the seed corpus and the regressions
// (each a crash once found); replaying them here runs each harness in every
// build of the suite (plain, ASan+UBSan, TSan) with gcc. A crash or sanitizer
// report fails the test; a path that cannot be read fails it too, and so
// does a run that found no input at all (nothing replayed is no success).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <system_error>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

namespace fs = std::filesystem;

bool Replay(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "fuzz replay: cannot read %s\n", file.c_str());
    return false;
  }
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) {
    std::fprintf(stderr, "fuzz replay: error reading %s\n", file.c_str());
    return false;
  }
  std::fprintf(stderr, "fuzz replay: %s (%zu bytes)\n", file.c_str(), bytes.size());
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE_OR_DIR...\n", argv[0]);
    return 2;
  }
  size_t replayed = 0;
  for (int i = 1; i < argc; ++i) {
    const fs::path arg(argv[i]);
    std::error_code ec;
    std::vector<fs::path> files;
    if (fs::is_directory(arg, ec)) {
      for (const auto& entry : fs::directory_iterator(arg, ec)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
      }
      if (ec) {
        std::fprintf(stderr, "fuzz replay: cannot list %s: %s\n", arg.c_str(),
                     ec.message().c_str());
        return 1;
      }
      std::sort(files.begin(), files.end());  // the same order on every run
    } else {
      files.push_back(arg);
    }
    for (const fs::path& file : files) {
      if (!Replay(file)) return 1;
      ++replayed;
    }
  }
  if (replayed == 0) {
    std::fprintf(stderr, "fuzz replay: no input found under the paths given\n");
    return 1;
  }
  std::fprintf(stderr, "fuzz replay: %zu input(s), no failure\n", replayed);
  return 0;
}
