// The provider conformance kit: loads a provider library through the C ABI
// against the fake host (fake_host.h; no server, no data directory) and
// checks that it keeps the rules of bkp_plugin.h: negotiation, its table and
// capability bits, settings, open/close re-entrancy, the err/err_len rules,
// backup/restore round trips of generated data in every role, list order,
// cancellation at every check point, and the size and order rules.
// `bkp-provider-check` is this library's command line; a C++ test may call
// Run() directly.
//
// The provider works on whatever its settings point at (a directory, a
// bucket): give it an empty one, as the checks make, list, restore and
// remove backups there.
//
// Not thread-safe: one Run at a time per process (the provider library is
// loaded once per run).
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace bkp::conformance {

struct Options {
  std::string plugin;  // path of the provider library (bkp_<name>.so)
  // key=value pairs as the host config would give them; each key must be
  // one the provider declares, and its value parse as the declared type.
  std::vector<std::pair<std::string, std::string>> settings;
  uint64_t seed = 1;  // for the generated data
  // At most this many cancel points are tried per operation (evenly spread
  // when the provider has more); each costs one backup.
  size_t max_cancel_points = 48;
};

struct Result {
  std::string check;  // e.g. "table: capability bits match callbacks"
  bool passed = false;
  std::string why;  // for a failure: what broke the rule, and where
};

struct Report {
  std::vector<Result> results;
  std::vector<std::string> notes;  // worth knowing, not a failure
  std::string fatal;               // non-empty when the run could not start
  bool ok() const;
  size_t failures() const;
};

// Runs every check that applies to the provider's capabilities. Never
// throws; a library that cannot be loaded or settings that do not match the
// provider's table end the run with Report::fatal.
Report Run(const Options& options);

// Prints the report as `bkp-provider-check` does: one line per check
// (PASS/FAIL, and why), notes, and a summary.
void Print(const Report& report, std::FILE* out);

}  // namespace bkp::conformance
