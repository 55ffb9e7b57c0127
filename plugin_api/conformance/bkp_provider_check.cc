// bkp-provider-check: the conformance kit's command line (conformance.h).
// Exit status: 0 every check passed, 1 a check failed, 2 bad usage or a
// provider that cannot be loaded or given its settings.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "bkp/conformance/conformance.h"

namespace {

constexpr const char* kUsage =
    "usage: bkp-provider-check --plugin PATH [--setting KEY=VALUE]... [--seed N]\n"
    "                          [--max-cancel-points N]\n"
    "\n"
    "Loads the backup provider library PATH through the C ABI against a fake host\n"
    "(no server, no data directory) and checks it keeps the rules of bkp_plugin.h:\n"
    "negotiation, its table and capability bits, settings, open/close re-entrancy,\n"
    "the err/err_len rules (err_len 0 and NULL included), backup/restore round trips\n"
    "of generated data in every role (control DB, then log, then events, then\n"
    "snapshots), list order, a cancel at every check point leaving no backup, and\n"
    "the size and order rules. Prints PASS or FAIL (and why) per check.\n"
    "\n"
    "  --plugin PATH        the provider library, e.g. ./bkp_my_provider.so\n"
    "  --setting KEY=VALUE  a provider setting, as in the host config; give every\n"
    "                       required one. Point storage settings at an EMPTY\n"
    "                       scratch place: the checks make and remove backups.\n"
    "  --seed N             seed of the generated data (default 1)\n"
    "  --max-cancel-points N  cancel points tried per operation (default 48)\n"
    "\n"
    "Exit status: 0 all checks passed, 1 a check failed, 2 usage or load error.\n";

int Usage(const char* why) {
  std::fprintf(stderr, "bkp-provider-check: %s\n\n%s", why, kUsage);
  return 2;
}

bool ParseCount(const char* text, uint64_t* out) {
  char* end = nullptr;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (*text == '\0' || *end != '\0' || text[0] == '-') return false;
  *out = v;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  bkp::conformance::Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (i + 1 >= argc) return Usage(("option " + arg + " needs a value").c_str());
    const char* value = argv[++i];
    if (arg == "--plugin") {
      options.plugin = value;
    } else if (arg == "--setting") {
      const char* eq = std::strchr(value, '=');
      if (eq == nullptr || eq == value) {
        return Usage(("--setting '" + std::string(value) + "' is not KEY=VALUE").c_str());
      }
      options.settings.emplace_back(std::string(value, eq), std::string(eq + 1));
    } else if (arg == "--seed") {
      if (!ParseCount(value, &options.seed)) return Usage("--seed needs a number");
    } else if (arg == "--max-cancel-points") {
      uint64_t n = 0;
      if (!ParseCount(value, &n) || n == 0) return Usage("--max-cancel-points needs a number > 0");
      options.max_cancel_points = static_cast<size_t>(n);
    } else {
      return Usage(("unknown option '" + arg + "'").c_str());
    }
  }
  if (options.plugin.empty()) return Usage("--plugin is required");
  const bkp::conformance::Report report = bkp::conformance::Run(options);
  bkp::conformance::Print(report, stdout);
  if (!report.fatal.empty()) return 2;
  return report.ok() ? 0 : 1;
}
