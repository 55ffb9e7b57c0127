// hostctl's event commands: append (given or generated payloads), load (a
// paced, bounded run) and read.
//
// Thread-safety: single-threaded except `load --threads T`, whose workers each
// own an AdminClient and an EventGenerator and share only atomics and the
// results, merged after they are joined.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "api/event_generator.h"
#include "cli/hostctl_common.h"
#include "storage/event_store.h"

namespace hostctl {

using namespace hoststub;

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kMaxPage = 10'000;  // the host's read limit

// The option's check lets only the two event streams' names through.
StreamRole ParseStream(const std::string& name) {
  return ParseStreamRole(name).value_or(StreamRole::kEvents);
}

void AddStreamOption(CLI::App* cmd, std::string& stream) {
  cmd->add_option("--stream", stream, "Stream of the context")
      ->check(CLI::IsMember({std::string(StreamRoleName(StreamRole::kEvents)),
                             std::string(StreamRoleName(StreamRole::kSnapshots))}))
      ->capture_default_str();
}

struct GeneratorArgs {
  size_t min_size = 200;
  size_t max_size = 2000;
  uint64_t seed = 1;
};

void AddGeneratorOptions(CLI::App* cmd, GeneratorArgs& args) {
  cmd->add_option("--min-size", args.min_size, "Smallest generated event, bytes")
      ->capture_default_str();
  cmd->add_option("--max-size", args.max_size, "Largest generated event, bytes")
      ->capture_default_str();
  cmd->add_option("--seed", args.seed, "Generator seed: the same seed gives the same events")
      ->capture_default_str();
}

// ---- hostctl append ---------------------------------------------------------

struct AppendArgs {
  std::string context;
  std::string stream = "events";
  std::vector<std::string> payloads;
  uint64_t count = 0;
  size_t batch = 100;
  GeneratorArgs generator;
  bool json = false;
};

// Token ranges the host assigned, merged where contiguous (they are unless
// another client appended to the context in between).
class TokenRanges {
 public:
  void Add(uint64_t first, uint64_t last) {
    if (!ranges_.empty() && ranges_.back().second + 1 == first) {
      ranges_.back().second = last;
    } else {
      ranges_.emplace_back(first, last);
    }
  }
  std::string ToString() const {
    std::string out;
    for (const auto& [first, last] : ranges_) {
      out += fmt::format("{}{}..{}", out.empty() ? "" : ", ", first, last);
    }
    return out;
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>> ranges_;
};

int RunAppend(const GlobalArgs& global, const AppendArgs& args) {
  if (args.payloads.empty() && args.count == 0) {
    return Usage("append needs payloads, or --count N to generate N events");
  }
  const StreamRole stream = ParseStream(args.stream);
  AdminClient client = MakeClient(global);
  TokenRanges ranges;
  uint64_t appended = 0;
  size_t batches = 0;
  uint64_t last_log_index = 0;

  auto append = [&](const std::vector<std::string>& events) -> ApiResult<AppendResult> {
    ApiResult<AppendResult> result = client.Append(args.context, events, stream);
    if (!result.ok()) return result;
    if (args.json) std::cout << client.last_reply_body() << '\n';
    ranges.Add(result->first_token, result->last_token);
    appended += events.size();
    last_log_index = result->log_index;
    ++batches;
    return result;
  };

  if (!args.payloads.empty()) {
    ApiResult<AppendResult> result = append(args.payloads);
    if (!result.ok()) return Fail(result.error());
  } else {
    EventGeneratorOptions options{args.generator.min_size, args.generator.max_size,
                                  args.generator.seed};
    Status valid = EventGenerator::Validate(options);
    if (!valid.ok()) return Usage(valid.message());
    // One generator, drawn batch after batch: the events depend on the seed
    // only, not on --batch.
    EventGenerator generator(options);
    while (appended < args.count) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(args.batch, args.count - appended));
      ApiResult<AppendResult> result = append(generator.NextBatch(n));
      if (!result.ok()) {
        if (appended > 0) {
          std::cerr << fmt::format(
              "hostctl: {} events were appended before the failure: tokens {}\n", appended,
              ranges.ToString());
        }
        return Fail(result.error());
      }
    }
  }
  if (!args.json) {
    std::cout << fmt::format(
        "appended {} events to '{}' ({}) in {} batch{}: tokens {}, last log "
        "index {}\n",
        appended, args.context, args.stream, batches, batches == 1 ? "" : "es", ranges.ToString(),
        last_log_index);
  }
  return kExitOk;
}

}  // namespace

Command AddAppendCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<AppendArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "append", "Append the given payloads as one batch, or --count N generated JSON events");
  cmd->add_option("--context", args->context, "Context to append to")->required();
  AddStreamOption(cmd, args->stream);
  CLI::Option* payloads = cmd->add_option("payloads", args->payloads, "Event payloads");
  CLI::Option* count = cmd->add_option("--count", args->count, "Generate this many events instead")
                           ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  payloads->excludes(count);
  cmd->add_option("--batch", args->batch, "Generated events per request")
      ->check(CLI::Range(size_t{1}, kMaxPage * 10))
      ->capture_default_str();
  AddGeneratorOptions(cmd, args->generator);
  cmd->add_flag("--json", args->json, "Print the host's replies as JSON");
  return {cmd, [&global, args] { return RunAppend(global, *args); }};
}

namespace {

// ---- hostctl load -----------------------------------------------------------

struct LoadArgs {
  std::string context;
  std::string stream = "events";
  double rate = 0;
  double duration = 0;
  size_t batch = 100;
  unsigned threads = 1;
  GeneratorArgs generator;
};

struct LoadTotals {
  uint64_t events = 0;
  uint64_t bytes = 0;
  uint64_t requests = 0;
  uint64_t failed_requests = 0;
  uint64_t unreachable_requests = 0;
  uint64_t attempted_events = 0;
  std::vector<double> latencies_ms;
  double max_lag_ms = 0;
  Clock::time_point last_ack{};
  std::string first_error;
};

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

int RunLoad(const GlobalArgs& global, const LoadArgs& args) {
  const EventGeneratorOptions base{args.generator.min_size, args.generator.max_size,
                                   args.generator.seed};
  Status valid = EventGenerator::Validate(base);
  if (!valid.ok()) return Usage(valid.message());
  const uint64_t total_events = static_cast<uint64_t>(std::llround(args.rate * args.duration));
  if (total_events == 0) return Usage("--rate times --duration is less than one event");
  const uint64_t total_batches = (total_events + args.batch - 1) / args.batch;
  const StreamRole stream = ParseStream(args.stream);

  // Open-loop pacing: batch k is due at start + k * interval whatever happened
  // to earlier ones, so a slow reply delays only itself and the rate holds.
  const auto interval = std::chrono::duration<double>(static_cast<double>(args.batch) / args.rate);
  const auto window =
      std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.duration));
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + window;
  std::atomic<uint64_t> next_batch{0};

  std::vector<LoadTotals> per_thread(args.threads);
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < args.threads; ++t) {
    workers.emplace_back([&, t] {
      LoadTotals& totals = per_thread[t];
      AdminClient client = MakeClient(global);
      EventGenerator generator({base.min_size, base.max_size, base.seed + t});
      for (;;) {
        // Bounded in time: a host too slow for the rate does not stretch the
        // run; what was not sent by the end is reported as skipped.
        if (Clock::now() >= end) break;
        const uint64_t k = next_batch.fetch_add(1);
        if (k >= total_batches) break;
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(args.batch, total_events - k * args.batch));
        std::vector<std::string> events = generator.NextBatch(n);
        const Clock::time_point due =
            start + std::chrono::duration_cast<Clock::duration>(interval * static_cast<double>(k));
        std::this_thread::sleep_until(due);
        const Clock::time_point sent = Clock::now();
        totals.attempted_events += n;
        ApiResult<AppendResult> result = client.Append(args.context, events, stream);
        const Clock::time_point acked = Clock::now();
        ++totals.requests;
        totals.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(acked - sent).count());
        totals.max_lag_ms = std::max(totals.max_lag_ms,
                                     std::chrono::duration<double, std::milli>(sent - due).count());
        totals.last_ack = std::max(totals.last_ack, acked);
        if (!result.ok()) {
          ++totals.failed_requests;
          if (result.error().unreachable()) ++totals.unreachable_requests;
          if (totals.first_error.empty()) totals.first_error = result.error().message;
          continue;
        }
        totals.events += n;
        for (const std::string& e : events) totals.bytes += e.size();
      }
    });
  }
  for (std::thread& w : workers) w.join();

  LoadTotals all;
  for (LoadTotals& t : per_thread) {
    all.events += t.events;
    all.bytes += t.bytes;
    all.requests += t.requests;
    all.failed_requests += t.failed_requests;
    all.unreachable_requests += t.unreachable_requests;
    all.attempted_events += t.attempted_events;
    all.max_lag_ms = std::max(all.max_lag_ms, t.max_lag_ms);
    all.last_ack = std::max(all.last_ack, t.last_ack);
    all.latencies_ms.insert(all.latencies_ms.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    if (all.first_error.empty()) all.first_error = t.first_error;
  }
  std::sort(all.latencies_ms.begin(), all.latencies_ms.end());
  // The rate is over the scheduled window unless the last ack came later.
  const double seconds =
      std::max(args.duration, std::chrono::duration<double>(all.last_ack - start).count());
  const double mb = static_cast<double>(all.bytes) / 1e6;
  std::cout << fmt::format(
      "load: {} events ({:.2f} MB payload) to '{}' in {:.2f} s: {:.1f} events/s, {:.2f} MB/s; "
      "ack latency p50 {:.2f} ms, p99 {:.2f} ms, max {:.2f} ms; errors {}\n",
      all.events, mb, args.context, seconds, static_cast<double>(all.events) / seconds,
      mb / seconds, Percentile(all.latencies_ms, 0.50), Percentile(all.latencies_ms, 0.99),
      all.latencies_ms.empty() ? 0.0 : all.latencies_ms.back(), all.failed_requests);
  const uint64_t skipped = total_events - all.attempted_events;
  if (skipped > 0 || all.max_lag_ms > 1000 * interval.count()) {
    std::cout << fmt::format(
        "load: behind schedule (max {:.1f} ms late); {} events not sent before the window "
        "closed: the host or this client is slower than --rate (try --threads)\n",
        all.max_lag_ms, skipped);
  }
  if (all.failed_requests > 0) {
    std::cerr << fmt::format("hostctl: {} of {} requests failed; first error: {}\n",
                             all.failed_requests, all.requests, all.first_error);
    return all.unreachable_requests == all.requests ? kExitUnreachable : kExitHostError;
  }
  return kExitOk;
}

}  // namespace

Command AddLoadCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<LoadArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "load", "Append generated events at a steady rate for a bounded time, then print a summary");
  cmd->add_option("--context", args->context, "Context to load")->required();
  AddStreamOption(cmd, args->stream);
  cmd->add_option("--rate", args->rate, "Events per second")
      ->required()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--duration", args->duration, "Seconds")->required()->check(CLI::PositiveNumber);
  cmd->add_option("--batch", args->batch, "Events per request")
      ->check(CLI::Range(size_t{1}, kMaxPage * 10))
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Concurrent connections")
      ->check(CLI::Range(1u, 256u))
      ->capture_default_str();
  AddGeneratorOptions(cmd, args->generator);
  return {cmd, [&global, args] { return RunLoad(global, *args); }};
}

namespace {

// ---- hostctl read -----------------------------------------------------------

struct ReadArgs {
  std::string context;
  std::string stream = "events";
  uint64_t from = 0;
  uint64_t limit = 100;
  bool json = false;
};

int RunRead(const GlobalArgs& global, const ReadArgs& args) {
  AdminClient client = MakeClient(global);
  const StreamRole stream = ParseStream(args.stream);
  uint64_t from = args.from;
  uint64_t remaining = args.limit == 0 ? UINT64_MAX : args.limit;
  while (remaining > 0) {
    const size_t page = static_cast<size_t>(std::min<uint64_t>(remaining, kMaxPage));
    ApiResult<ReadReply> reply = client.Read(args.context, from, page, stream);
    if (!reply.ok()) return Fail(reply.error());
    if (reply->events.empty()) break;
    for (const StoredEvent& e : reply->events) {
      if (args.json) {
        nlohmann::json line = {{"token", e.token},
                               {"log_index", e.log_index},
                               {"timestamp_ms", e.timestamp_ms},
                               {"payload", e.payload}};
        std::cout << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
      } else {
        std::cout << e.token << '\t' << e.payload << '\n';
      }
    }
    remaining -= reply->events.size();
    from = reply->next_token;
  }
  std::cout << std::flush;
  return kExitOk;
}

}  // namespace

Command AddReadCommand(CLI::App& parent, const GlobalArgs& global) {
  auto args = std::make_shared<ReadArgs>();
  CLI::App* cmd = parent.add_subcommand(
      "read",
      "Print events as TOKEN<TAB>PAYLOAD lines, payloads raw (--json for one JSON object per "
      "event, safe for payloads holding newlines)");
  cmd->add_option("--context", args->context, "Context to read")->required();
  AddStreamOption(cmd, args->stream);
  cmd->add_option("--from", args->from, "First token")->capture_default_str();
  cmd->add_option("--limit", args->limit, "Events to print at most; 0 reads to the end")
      ->capture_default_str();
  cmd->add_flag("--json", args->json, "One JSON object per event");
  return {cmd, [&global, args] { return RunRead(global, *args); }};
}

}  // namespace hostctl
