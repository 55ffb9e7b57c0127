// AppendMetrics: atomics per stream; buckets are stored per interval and
// made cumulative only when read, so an append touches one bucket.
#include "api/append_metrics.h"

namespace hoststub {

void AppendMetrics::Observe(StreamRole stream, bool ok, uint64_t events,
                            std::chrono::nanoseconds elapsed) {
  size_t index = 0;
  while (index < kStreams.size() && kStreams[index] != stream) ++index;
  if (index == kStreams.size()) return;  // not an appendable stream: nothing to count
  Counters& c = streams_[index];
  if (!ok) {
    c.failed.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  c.ok.fetch_add(1, std::memory_order_relaxed);
  c.events.fetch_add(events, std::memory_order_relaxed);
  const uint64_t ns = elapsed.count() < 0 ? 0 : static_cast<uint64_t>(elapsed.count());
  c.sum_ns.fetch_add(ns, std::memory_order_relaxed);
  const double seconds = static_cast<double>(ns) / 1e9;
  for (size_t b = 0; b < kBucketBounds.size(); ++b) {
    if (seconds <= kBucketBounds[b]) {
      c.buckets[b].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
}

AppendMetrics::StreamFigures AppendMetrics::Snapshot(size_t i) const {
  const Counters& c = streams_[i];
  StreamFigures f;
  f.ok = c.ok.load(std::memory_order_relaxed);
  f.failed = c.failed.load(std::memory_order_relaxed);
  f.events = c.events.load(std::memory_order_relaxed);
  uint64_t running = 0;
  for (size_t b = 0; b < kBucketBounds.size(); ++b) {
    running += c.buckets[b].load(std::memory_order_relaxed);
    f.buckets[b] = running;
  }
  f.sum_seconds = static_cast<double>(c.sum_ns.load(std::memory_order_relaxed)) / 1e9;
  return f;
}

}  // namespace hoststub
