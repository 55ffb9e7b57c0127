// What recording a provider call costs (provider_call_journal.h): one
// journaled no-op call against an unrecorded one, with the journal's
// directory on the same file system as a data directory would be (the
// benchmark's working directory). The archive path makes one call per
// shipped segment or piece, so microseconds per call are what matters.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "plugin_host/provider_call_journal.h"

namespace {

namespace fs = std::filesystem;

void BM_ProviderCall(benchmark::State& state) {
  const bool journaled = state.range(0) != 0;
  const fs::path dir = fs::current_path() / ("journal-bench-" + std::to_string(::getpid()));
  if (journaled) (void)hoststub::ProviderCallJournal::Enable(dir);
  for (auto _ : state) {
    const hoststub::ProviderCallJournal::Call call("bench", "archive");
    benchmark::ClobberMemory();
  }
  hoststub::ProviderCallJournal::Disable();
  fs::remove_all(dir);
  state.SetLabel(journaled ? "journaled" : "not journaled");
}
BENCHMARK(BM_ProviderCall)->Arg(0)->Arg(1)->Unit(benchmark::kMicrosecond);

}  // namespace
