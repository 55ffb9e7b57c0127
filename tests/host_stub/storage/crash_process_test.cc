// The crash oracle against real processes (issue 15 §2): `hostd serve`
// takes appends over HTTP from two writers and is killed with SIGKILL at a
// random moment, round after round. After each kill the directory is
// recovered and every acknowledged event must be there byte for byte, no
// token or log index handed out twice, the checker clean, the next append
// continuing. The fault-injecting Env is not involved: this is the proof
// that does not rest on its model. BKP_CRASH_KILLS sets the rounds
// (default 12).
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <fmt/format.h>

#include "api/admin_client.h"
#include "host_stub/crash_oracle.h"
#include "host_stub/hostd_process.h"
#include "host_stub/storage_test_util.h"
#include "storage/checker.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace ts = testing_support;

TEST_CASE("crash test: hostd killed with SIGKILL mid-append loses no acknowledged event") {
  ts::TempDir dir;
  const fs::path data = dir / "data";
  // Small segments: kills land in rolls too.
  ts::WriteFile(dir / "host.toml", "[storage]\ndata_dir = '" + data.string() +
                                       "'\nevent_segment_size = \"4KiB\"\nlog_segment_size = "
                                       "\"4KiB\"\n\n[server]\nport = 0\n");
  const char* env = std::getenv("BKP_CRASH_KILLS");
  const int rounds = env != nullptr && *env != '\0' ? std::atoi(env) : 12;
  std::mt19937_64 rng(15);
  crash_oracle::Oracle oracle;
  uint64_t acked = 0;
  uint64_t checked = 0;
  for (int round = 0; round < rounds; ++round) {
    CAPTURE(round);
    {
      hostd_process::HostProcess host(dir / "host.toml", dir / "port",
                                      dir / fmt::format("hostd-{}.log", round));
      const uint16_t port = static_cast<uint16_t>(std::stoi(host.port()));
      std::atomic<bool> stop{false};
      std::atomic<uint64_t> round_acked{0};
      std::vector<std::thread> writers;
      for (int w = 0; w < 2; ++w) {
        writers.emplace_back([&, w, seed = rng()] {
          std::mt19937_64 wrng(seed);
          hoststub::AdminClient client("127.0.0.1", port);
          for (int i = 0; !stop; ++i) {
            const std::string ctx = wrng() % 2 == 0 ? "a" : "b";
            std::vector<std::string> batch(1 + wrng() % 4);
            for (size_t j = 0; j < batch.size(); ++j) {
              batch[j] = fmt::format("r{}w{}i{}e{}", round, w, i, j);
              batch[j].resize(batch[j].size() + wrng() % 300, static_cast<char>('a' + j));
            }
            auto r = client.Append(ctx, batch);
            if (!r.ok()) break;  // the host is gone
            oracle.Ack(ctx, r.value(), batch);
            ++round_acked;
          }
        });
      }
      // Let the writers get going, then kill at a random moment.
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 400));
      CHECK(host.Stop(SIGKILL) == -SIGKILL);
      stop = true;
      for (auto& t : writers) t.join();
      acked += round_acked;
    }
    // Recovery, then the oracle, then one more append.
    {
      auto store =
          storage_test::OpenOrFail(storage_test::Options(data, hoststub::FsyncPolicy::kBatch));
      std::vector<std::string> lost;
      for (const char* ctx : {"a", "b"}) {
        checked += oracle.Verify(*store, ctx, &lost);
        const std::vector<std::string> next{fmt::format("r{}-next", round)};
        auto r = store->Append(ctx, next);
        REQUIRE_MESSAGE(r.ok(), r.status().ToString());
        oracle.Ack(ctx, *r, next);
      }
      for (const auto& l : lost) FAIL_CHECK("LOST " << l);
    }
    auto report = hoststub::CheckDataDir(data);
    const std::string first = report.violations.empty() ? "" : report.violations.front();
    CHECK_MESSAGE(report.ok(), first);
  }
  for (const auto& r : oracle.reused()) FAIL_CHECK("REUSED " << r);
  MESSAGE(fmt::format("SIGKILL test: {} kills, {} events acknowledged, {} checked, {} reused",
                      rounds, acked, checked, oracle.reused().size()));
  CHECK(checked > 0);
}
