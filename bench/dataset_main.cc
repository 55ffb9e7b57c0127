// bkp_dataset: builds or mutates a benchmark data directory (see dataset.h).
//   bkp_dataset --dir D --mib N [--seed S]            ensure a dataset of N MiB
//   bkp_dataset --dir D --mutate PCT [--seed S]       grow it by PCT percent
// Layout (give the same to --mutate as to the build): --contexts N spreads
// the appends evenly over N contexts, --segment-kib K rolls log and event
// segments at K KiB, --batch E appends E events per log record.
#include <CLI/CLI.hpp>
#include <iostream>

#include "dataset.h"

int main(int argc, char** argv) {
  CLI::App app{"bkp_dataset: realistic event-store data directories for benchmarks"};
  std::string dir;
  uint64_t mib = 0;
  double mutate = 0;
  uint64_t seed = 1;
  app.add_option("--dir", dir, "data directory")->required();
  app.add_option("--mib", mib, "ensure a dataset of this many MiB");
  app.add_option("--mutate", mutate, "append this percentage of the current size");
  app.add_option("--seed", seed, "generator seed");
  bench::Layout layout;
  uint64_t segment_kib = 0;
  app.add_option("--contexts", layout.contexts, "spread appends over this many contexts");
  app.add_option("--segment-kib", segment_kib, "log and event segment size in KiB (>= 4)")
      ->check(CLI::Range(uint64_t{4}, uint64_t{1} << 20));
  app.add_option("--batch", layout.batch_events, "events per append")
      ->check(CLI::Range(1u, 10000u));
  CLI11_PARSE(app, argc, argv);
  layout.segment_bytes = segment_kib << 10;
  hoststub::Status st = mutate > 0 ? bench::MutateDataset(dir, mutate, seed + 1000, layout)
                                   : bench::EnsureDataset(dir, mib << 20, seed, layout);
  if (!st.ok()) {
    std::cerr << "bkp_dataset: " << st.ToString() << "\n";
    return 1;
  }
  std::cout << bench::DirectoryBytes(dir) << "\n";
  return 0;
}
