// The conformance kit's internals: the state one run shares between its
// checks, and the checks themselves, one group per file.
#pragma once

#include <string>
#include <vector>

#include "bkp/bkp_plugin.h"
#include "bkp/conformance/conformance.h"
#include "bkp/conformance/fake_host.h"

namespace bkp::conformance::detail {

// The problems one check found; empty means it passed.
using Problems = std::vector<std::string>;

struct Kit {
  const Options& options;
  Report& report;
  const fake::PluginLibrary& library;
  const bkp_provider* provider = nullptr;  // as the entry point returned it
  bkp_provider table{};                    // what of it the host reads (versioned copy)
  std::vector<bkp_setting_spec> specs;     // its settings, read at its stride
  fake::FakeHost host;                     // scripted with the run's settings
  std::string provider_name;               // what open_args.provider_name points at

  // Records the outcome of one check: PASS, or one FAIL per problem.
  void Conclude(const std::string& check, const Problems& problems);
  void Note(const std::string& note) { report.notes.push_back(note); }
  // Whether the table announces `cap` (and so promises its callback).
  bool Has(uint64_t cap) const { return (table.capabilities & cap) != 0; }

  // Opens an instance with the host's current settings; on failure returns
  // nullptr and the provider's message (or why the call broke a rule).
  bkp_instance* Open(std::string* why);
};

// Generated host state: a control DB and, for two contexts, log, event and
// snapshot segments named as the host names them, with random bytes
// (deterministic for a seed); one event segment is empty. `generation` > 0
// appends later segments after those of generation 0 (for increments).
std::vector<fake::Item> GenerateItems(uint64_t seed, int generation);

// The provider's name for messages.
std::string ProviderName(const Kit& kit);
// "BKP_E_IO (7)".
std::string StatusText(bkp_status status);

void CheckEntry(Kit& kit);         // checks_table.cc
void CheckTable(Kit& kit);         // checks_table.cc
void CheckSettings(Kit& kit);      // checks_open.cc
void CheckOpenClose(Kit& kit);     // checks_open.cc
void CheckErrorBuffers(Kit& kit);  // checks_errors.cc
void CheckOperations(Kit& kit);    // checks_operations.cc

}  // namespace bkp::conformance::detail
