// Manifest encode and decode (plugins/repo/manifest.h) for a backup of
// 10,000 files: what listing, verifying or restoring a large host pays
// before it touches any data. The files are a host's mix (control DB, log
// and event segments in two contexts), one to three chunks each, with every
// optional field filled as a real backup fills it. Reports the JSON size and
// time per call; no target, the figure is for reading.
//
// Run: build/.../bench/host_bench --benchmark_filter=BM_Manifest
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>

#include <fmt/format.h>

#include "bkp/bkp_plugin.h"
#include "repo/manifest.h"
#include "repo/object_codec.h"

namespace {

constexpr int kFiles = 10'000;

repo::Manifest TenThousandFiles() {
  repo::Manifest m;
  m.id = "20260101T000000.000Z-bench";
  m.created_ms = 1'767'225'600'000;
  m.completed_ms = m.created_ms + 60'000;
  m.provider = "local_disk";
  m.provider_version = "0.2.0";
  m.abi_version = "1.1";
  for (const char* name : {"default", "audit"}) {
    m.contexts.push_back({name, 3, 5'000'000, {1, 5'000'001}, {0, 400'000'000}, {0, 0}});
  }
  m.files.push_back({BKP_ROLE_CONTROL_DB, "", "control.db", 0, 0, false, 45'056, 0, {}});
  m.files.back().chunks.push_back({0, 45'056, 0x1234, "objects/ab/abcd.lz4", 9'000, 0x99, ""});
  uint64_t x = 1;
  for (int i = 1; i < kFiles; ++i) {
    const bool log = i % 3 == 0;
    repo::FileEntry f;
    f.role = log ? BKP_ROLE_LOG : BKP_ROLE_EVENTS;
    f.context = i % 10 == 9 ? "audit" : "default";
    f.base = static_cast<uint64_t>(i) * 60'000;
    f.next = f.base + 60'000;
    f.name = fmt::format("{:020}.{}", f.base, log ? "log" : "events");
    f.closed = i + 1 < kFiles;
    f.size = log ? 16 << 20 : 64 << 20;
    const int chunks = 1 + i % 3;
    for (int c = 0; c < chunks; ++c) {
      x = x * 6364136223846793005ull + 1442695040888963407ull;  // deterministic "hashes"
      const uint64_t offset = f.size * static_cast<uint64_t>(c) / static_cast<uint64_t>(chunks);
      const uint64_t size =
          f.size * static_cast<uint64_t>(c + 1) / static_cast<uint64_t>(chunks) - offset;
      const std::string hex = repo::Hex64(x) + repo::Hex64(~x);
      f.chunks.push_back({offset, size, x, "objects/" + hex.substr(0, 2) + "/" + hex + ".lz4",
                          size / 3, x >> 1, ""});
    }
    m.files.push_back(std::move(f));
  }
  m.bytes_new = m.TotalStoredBytes();
  return m;
}

void BM_ManifestEncode(benchmark::State& state) {
  const repo::Manifest m = TenThousandFiles();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string json = repo::EncodeManifest(m);
    bytes = json.size();
    benchmark::DoNotOptimize(json);
  }
  state.counters["files"] = kFiles;
  state.counters["json_MiB"] = static_cast<double>(bytes) / (1 << 20);
  state.SetBytesProcessed(static_cast<int64_t>(bytes) * state.iterations());
}

void BM_ManifestDecode(benchmark::State& state) {
  const std::string json = repo::EncodeManifest(TenThousandFiles());
  for (auto _ : state) {
    benchmark::DoNotOptimize(repo::DecodeManifest(json, "bench manifest"));
  }
  state.counters["files"] = kFiles;
  state.counters["json_MiB"] = static_cast<double>(json.size()) / (1 << 20);
  state.SetBytesProcessed(static_cast<int64_t>(json.size()) * state.iterations());
}

BENCHMARK(BM_ManifestEncode)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ManifestDecode)->Unit(benchmark::kMillisecond);

}  // namespace
