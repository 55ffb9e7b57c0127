// ProviderCallJournal: providers run in the host's process (the ABI is for
// speed), so one that crashes takes the host down; and since the archiver
// resumes at start, one that crashes in open or archive would do so at every
// start. The journal breaks that loop: each call into a provider is recorded
// in <data_dir>/provider-calls/ while it runs, a fatal signal (SIGSEGV,
// SIGBUS, SIGILL, SIGFPE, SIGABRT) marks the records of the calls in
// progress as crashed, and the next start disables each provider so marked
// until an operator re-enables it (`hostd provider enable NAME`, or removing
// <data_dir>/provider-calls/NAME.disabled).
//
// Why no fsync: a crash of the process leaves the page cache, so the record
// survives it; a crash of the machine cannot be blamed on a provider, and a
// record left by one (or by SIGKILL) carries no crash mark and disables
// nothing. A call costs an open, a short write, a close and an unlink:
// ~30 us on ext4 (bench/provider_call_journal_bench.cc), against
// milliseconds for archiving a segment.
//
// Thread-safety: Call may be used from any thread; Enable, Disable and the
// start-up functions are for the main thread before providers are opened.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

namespace hoststub {

class ProviderCallJournal {
 public:
  // From now on, calls are recorded under `data_dir` (created by the first)
  // and fatal signals mark them; until then Call does nothing (tools and
  // tests that load providers without a data directory).
  static Status Enable(const std::filesystem::path& data_dir);
  static void Disable();

  // Records one call (`what`: "open", "archive", ...) into `provider` for
  // as long as it lives. Never fails: a call that cannot be recorded runs
  // unrecorded (the journal is a safety net, not a precondition).
  class Call {
   public:
    Call(std::string_view provider, std::string_view what);
    ~Call();
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

   private:
    int slot_ = -1;
    std::filesystem::path file_;
  };
};

// A provider the host found disabled at start, and why.
struct DisabledProvider {
  std::string name;
  std::string reason;
};

// Start-up: turns the records a crash left into disabled markers (the
// records themselves are removed; one without a crash mark only gets a
// line in `notes`), and returns every provider disabled now, old and new.
Result<std::vector<DisabledProvider>> SettleProviderCalls(const std::filesystem::path& data_dir,
                                                          std::vector<std::string>* notes);

// Every provider disabled under `data_dir`, with the reason recorded.
std::vector<DisabledProvider> DisabledProviders(const std::filesystem::path& data_dir);

// Re-enables `name`: NotFound when it is not disabled.
Status EnableProvider(const std::filesystem::path& data_dir, std::string_view name);

}  // namespace hoststub
