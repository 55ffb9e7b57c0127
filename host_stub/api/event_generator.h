// EventGenerator: synthetic, realistic-looking JSON events (ids, types,
// timestamps, names, amounts, nested objects) for hostctl, benchmarks and
// dataset generation. Output is a pure function of the options: the same seed
// yields the same events on every platform (no <random> distributions, whose
// results differ between standard libraries).
//
// Thread-safety: an EventGenerator is not thread-safe; give each thread its own
// (e.g. seeded seed + thread index).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "util/status.h"

namespace hoststub {

struct EventGeneratorOptions {
  // Each event's size in bytes is drawn uniformly from [min_size, max_size].
  size_t min_size = 200;
  size_t max_size = 2000;
  uint64_t seed = 1;
};

class EventGenerator {
 public:
  // Below this size an event cannot hold its sequence number and still be a
  // JSON object of the exact requested size.
  static constexpr size_t kMinEventSize = 64;

  // Checks min_size >= kMinEventSize and min_size <= max_size.
  static Status Validate(const EventGeneratorOptions& options);

  // `options` must pass Validate (asserted).
  explicit EventGenerator(const EventGeneratorOptions& options);

  // The next event: one JSON object, printable ASCII, exactly as long as the
  // size drawn for it.
  std::string Next();
  std::vector<std::string> NextBatch(size_t count);

  // Events produced so far; also the "seq" field of the next one.
  uint64_t generated() const { return seq_; }

 private:
  uint64_t NextRandom();
  uint64_t Below(uint64_t bound);  // uniform in [0, bound)
  template <typename T, size_t N>
  const T& Pick(const T (&items)[N]) {
    return items[Below(N)];
  }

  EventGeneratorOptions options_;
  uint64_t state_[4];
  uint64_t seq_ = 0;
};

}  // namespace hoststub
