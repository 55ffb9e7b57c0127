// bkp_dataset: builds or mutates a benchmark data directory (see dataset.h).
//   bkp_dataset --dir D --mib N [--seed S]            ensure a dataset of N MiB
//   bkp_dataset --dir D --mutate PCT [--seed S]       grow it by PCT percent
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
  CLI11_PARSE(app, argc, argv);
  hoststub::Status st = mutate > 0 ? bench::MutateDataset(dir, mutate, seed + 1000)
                                   : bench::EnsureDataset(dir, mib << 20, seed);
  if (!st.ok()) {
    std::cerr << "bkp_dataset: " << st.ToString() << "\n";
    return 1;
  }
  std::cout << bench::DirectoryBytes(dir) << "\n";
  return 0;
}
