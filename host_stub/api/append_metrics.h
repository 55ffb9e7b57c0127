// AppendMetrics: counts and latencies of the admin API's appends, for GET
// /metrics (api/metrics_routes.h). The latency is the handler's, from the
// parsed request to Append's return, so it includes the fsync the policy
// asks for and excludes the network.
//
// Thread-safety: Observe and Snapshot may run on any number of threads
// (relaxed atomics: a scrape may see one append's count before its sum,
// which Prometheus tolerates). Figures are since the host started.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "storage/stream_role.h"

namespace hoststub {

class AppendMetrics {
 public:
  // Upper bounds of the latency buckets, in seconds (the +Inf bucket is the
  // count): from a page-cache append to a slow disk's fsync.
  static constexpr std::array<double, 12> kBucketBounds = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  // The streams an append can name, in this order.
  static constexpr std::array<StreamRole, 2> kStreams = {StreamRole::kEvents,
                                                         StreamRole::kSnapshots};

  struct StreamFigures {
    uint64_t ok = 0;      // appends that succeeded
    uint64_t failed = 0;  // appends the store refused or failed
    uint64_t events = 0;  // events in the appends that succeeded
    // Successful appends only, cumulative per bucket as Prometheus wants.
    std::array<uint64_t, kBucketBounds.size()> buckets{};
    double sum_seconds = 0;
  };

  // One append to `stream` that took `elapsed`; `events` counted when ok.
  void Observe(StreamRole stream, bool ok, uint64_t events, std::chrono::nanoseconds elapsed);

  // The figures of kStreams[i].
  StreamFigures Snapshot(size_t i) const;

 private:
  struct Counters {
    std::atomic<uint64_t> ok{0};
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> events{0};
    std::array<std::atomic<uint64_t>, kBucketBounds.size()> buckets{};  // not cumulative
    std::atomic<uint64_t> sum_ns{0};
  };
  std::array<Counters, kStreams.size()> streams_;
};

}  // namespace hoststub
