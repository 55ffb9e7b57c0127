// What the engine's compress+checksum pipeline costs beyond the library calls
// it is made of: repo::FrameEncoder (plugins/repo/object_codec.h: LZ4 frame,
// XXH3-64, XXH3-128) beside two baselines on the same 1 MiB buffers the
// engine feeds it, all three in each iteration in a rotating order so none
// always meets a warmer cache:
//
//  * raw: the stock frame API, LZ4F streaming compression with the codec's
//    frame settings, plus XXH3-64. The target is the time ratio
//    pipeline/raw <= 1.10 (at most 10 % overhead).
//  * floor: the calls the codec itself makes for the same frame (LZ4 block
//    compression, libxxhash's XXH32 for the frame checksum, XXH3-64), with
//    no framing, buffering or writer. pipeline/floor is what the codec's own
//    plumbing and its XXH3-128 content address cost; a figure, no target.
//
// All three must produce the same number of compressed bytes (the same
// frame): a difference stops the benchmark, since it would mean the
// baselines no longer do the codec's work.
//
// Data: 32 MiB of realistic events (200-2000 byte JSON) from the
// deterministic generator, so the compression ratio is the datasets'.
// Single-threaded: the engine runs one encoder per worker thread.
//
// Run: build/.../bench/host_bench --benchmark_filter=BM_ObjectCodec
#include <benchmark/benchmark.h>
#include <lz4.h>
#include <lz4frame.h>
#include <xxhash.h>

#include <array>
#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "api/event_generator.h"
#include "discarding_writer.h"
#include "repo/object_codec.h"

namespace {

using Clock = std::chrono::steady_clock;

constexpr size_t kPayloadBytes = 32 << 20;
constexpr size_t kBlock = repo::kBlockBytes;

std::vector<char> RealisticPayload() {
  hoststub::EventGenerator gen({200, 2000, 7});
  std::vector<char> out;
  out.reserve(kPayloadBytes + 2048);
  while (out.size() < kPayloadBytes) {
    const std::string event = gen.Next();
    out.insert(out.end(), event.begin(), event.end());
  }
  out.resize(kPayloadBytes);
  return out;
}

using bench::DiscardingWriter;

uint64_t EncodeWithPipeline(const std::vector<char>& payload) {
  DiscardingWriter out;
  repo::FrameEncoder encoder(out, payload.size());
  for (size_t at = 0; at < payload.size(); at += kBlock) {
    encoder.Update(payload.data() + at, std::min(kBlock, payload.size() - at));
  }
  benchmark::DoNotOptimize(encoder.Finish());
  return out.bytes();
}

// The frame the codec writes, in lz4frame's terms: 1 MiB independent
// blocks, content checksum on, the fast level, the size in the header.
LZ4F_preferences_t FramePreferences(uint64_t size) {
  LZ4F_preferences_t prefs{};
  prefs.frameInfo.blockSizeID = LZ4F_max1MB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.contentSize = size;
  prefs.compressionLevel = 0;
  return prefs;
}

struct Baselines {
  static inline const LZ4F_preferences_t kPrefs = FramePreferences(kPayloadBytes);
  LZ4F_cctx* frame_ctx = nullptr;
  XXH3_state_t* h64 = XXH3_createState();
  XXH32_state_t* h32 = XXH32_createState();
  std::vector<char> block_state = std::vector<char>(static_cast<size_t>(LZ4_sizeofState()));
  std::vector<char> dst = std::vector<char>(std::max(
      LZ4F_compressBound(kBlock, &kPrefs), static_cast<size_t>(LZ4_compressBound(kBlock))));

  Baselines() { LZ4F_createCompressionContext(&frame_ctx, LZ4F_VERSION); }
  ~Baselines() {
    LZ4F_freeCompressionContext(frame_ctx);
    XXH3_freeState(h64);
    XXH32_freeState(h32);
  }
  Baselines(const Baselines&) = delete;
  Baselines& operator=(const Baselines&) = delete;

  // Compressed bytes of the whole frame, or 0 on an LZ4F error.
  uint64_t Raw(const std::vector<char>& payload) {
    const LZ4F_preferences_t prefs = FramePreferences(payload.size());
    XXH3_64bits_reset(h64);
    size_t n = LZ4F_compressBegin(frame_ctx, dst.data(), dst.size(), &prefs);
    if (LZ4F_isError(n)) return 0;
    uint64_t total = n;
    for (size_t at = 0; at < payload.size(); at += kBlock) {
      const size_t len = std::min(kBlock, payload.size() - at);
      XXH3_64bits_update(h64, payload.data() + at, len);
      n = LZ4F_compressUpdate(frame_ctx, dst.data(), dst.size(), payload.data() + at, len, nullptr);
      if (LZ4F_isError(n)) return 0;
      total += n;
    }
    n = LZ4F_compressEnd(frame_ctx, dst.data(), dst.size(), nullptr);
    if (LZ4F_isError(n)) return 0;
    benchmark::DoNotOptimize(XXH3_64bits_digest(h64));
    return total + n;
  }

  // The same frame's size from the block API: header (magic, FLG, BD,
  // 8-byte content size, header checksum) 15 bytes, a 4-byte size per
  // block, the end mark and the content checksum 8.
  uint64_t Floor(const std::vector<char>& payload) {
    XXH3_64bits_reset(h64);
    XXH32_reset(h32, 0);
    uint64_t total = 15 + 8;
    for (size_t at = 0; at < payload.size(); at += kBlock) {
      const size_t len = std::min(kBlock, payload.size() - at);
      const char* src = payload.data() + at;
      XXH3_64bits_update(h64, src, len);
      XXH32_update(h32, src, len);
      const int packed =
          LZ4_compress_fast_extState(block_state.data(), src, dst.data(), static_cast<int>(len),
                                     static_cast<int>(dst.size()), 1);
      total +=
          4 + (packed > 0 && static_cast<size_t>(packed) < len ? static_cast<size_t>(packed) : len);
    }
    benchmark::DoNotOptimize(XXH3_64bits_digest(h64));
    benchmark::DoNotOptimize(XXH32_digest(h32));
    return total;
  }
};

void BM_ObjectCodec(benchmark::State& state) {
  const std::vector<char> payload = RealisticPayload();
  Baselines baselines;
  if (baselines.frame_ctx == nullptr || baselines.h64 == nullptr || baselines.h32 == nullptr) {
    return state.SkipWithError("cannot create the LZ4F context or the XXH states");
  }
  enum Side { kPipeline, kRaw, kFloor };
  const std::array<std::function<uint64_t()>, 3> encode = {
      [&] { return EncodeWithPipeline(payload); }, [&] { return baselines.Raw(payload); },
      [&] { return baselines.Floor(payload); }};
  std::array<double, 3> total_s{};
  uint64_t stored = 0;
  size_t first = 0;
  for (auto _ : state) {
    std::array<double, 3> seconds{};
    std::array<uint64_t, 3> bytes{};
    for (size_t k = 0; k < 3; ++k) {
      const size_t side = (first + k) % 3;
      const auto t0 = Clock::now();
      bytes[side] = encode[side]();
      seconds[side] = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    first = (first + 1) % 3;
    if (bytes[kRaw] != bytes[kPipeline] || bytes[kFloor] != bytes[kPipeline]) {
      state.SkipWithError(
          "the baselines' frames differ in size from the codec's: they no longer do its work");
      break;
    }
    stored = bytes[kPipeline];
    for (size_t side = 0; side < 3; ++side) total_s[side] += seconds[side];
    state.SetIterationTime(seconds[kPipeline]);
  }
  const double mib = static_cast<double>(payload.size()) / (1 << 20);
  const double iterations = static_cast<double>(state.iterations());
  state.counters["pipeline_MiBps"] = mib * iterations / total_s[kPipeline];
  state.counters["raw_MiBps"] = mib * iterations / total_s[kRaw];
  state.counters["floor_MiBps"] = mib * iterations / total_s[kFloor];
  state.counters["pipeline_vs_raw_time"] = total_s[kPipeline] / total_s[kRaw];
  state.counters["pipeline_vs_floor_time"] = total_s[kPipeline] / total_s[kFloor];
  state.counters["lz4_ratio"] = static_cast<double>(payload.size()) / static_cast<double>(stored);
  state.SetBytesProcessed(static_cast<int64_t>(payload.size()) * state.iterations());
}

BENCHMARK(BM_ObjectCodec)->UseManualTime()->Iterations(20)->Unit(benchmark::kMillisecond);

}  // namespace
