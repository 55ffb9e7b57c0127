// LZ4 frame encoding/decoding with XXH3 checksums (see object_codec.h).
#include "object_codec.h"

#include <lz4frame.h>
#include <xxhash.h>

#include <cstdio>
#include <stdexcept>

#include "bkp/bkp_plugin.hpp"

namespace repo {
namespace {

LZ4F_preferences_t Preferences(uint64_t size_hint) {
  LZ4F_preferences_t prefs{};
  // 1 MiB independent blocks: the per-stream buffer stays small (memory is
  // bounded by workers x ~3 MiB) and the ratio is within a hair of 4 MiB.
  prefs.frameInfo.blockSizeID = LZ4F_max1MB;
  prefs.frameInfo.blockMode = LZ4F_blockIndependent;
  prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
  prefs.frameInfo.contentSize = size_hint;
  prefs.compressionLevel = 0;  // the fast default, as `lz4 -1`
  return prefs;
}

void Check(size_t rc, const char* what) {
  if (LZ4F_isError(rc)) {
    throw bkp::Error(BKP_E_INTERNAL, std::string(what) + ": " + LZ4F_getErrorName(rc));
  }
}

}  // namespace

std::string Hex64(uint64_t value) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(value));
  return buf;
}

uint64_t ParseHex64(const std::string& hex, const std::string& what) {
  if (hex.size() != 16 || hex.find_first_not_of("0123456789abcdef") != std::string::npos) {
    throw bkp::Error(BKP_E_CORRUPT, what + ": '" + hex + "' is not a 16-digit XXH3-64 checksum");
  }
  return std::stoull(hex, nullptr, 16);
}

uint64_t MaxFrameSize(uint64_t original_size) {
  const LZ4F_preferences_t prefs = Preferences(original_size);
  return LZ4F_compressFrameBound(original_size, &prefs);
}

FrameEncoder::FrameEncoder(ObjectWriter& out, uint64_t size_hint) : out_(out) {
  const LZ4F_preferences_t prefs = Preferences(size_hint);
  Check(LZ4F_createCompressionContext(&ctx_, LZ4F_VERSION), "LZ4F_createCompressionContext");
  h64_ = XXH3_createState();
  h128_ = XXH3_createState();
  if (h64_ == nullptr || h128_ == nullptr) throw std::bad_alloc();
  XXH3_64bits_reset(h64_);
  XXH3_128bits_reset(h128_);
  buf_.resize(LZ4F_compressBound(kChunkBytes, &prefs));
  size_t n = LZ4F_compressBegin(ctx_, buf_.data(), buf_.size(), &prefs);
  Check(n, "LZ4F_compressBegin");
  Emit(n);
}

FrameEncoder::~FrameEncoder() {
  LZ4F_freeCompressionContext(ctx_);
  XXH3_freeState(h64_);
  XXH3_freeState(h128_);
}

void FrameEncoder::Emit(size_t n) {
  if (n == 0) return;
  out_.Append(buf_.data(), n);
  result_.stored_size += n;
}

void FrameEncoder::Update(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  XXH3_64bits_update(h64_, p, len);
  XXH3_128bits_update(h128_, p, len);
  result_.original_size += len;
  while (len > 0) {
    const size_t n = std::min(len, kChunkBytes);
    size_t written = LZ4F_compressUpdate(ctx_, buf_.data(), buf_.size(), p, n, nullptr);
    Check(written, "LZ4F_compressUpdate");
    Emit(written);
    p += n;
    len -= n;
  }
}

EncodedObject FrameEncoder::Finish() {
  size_t n = LZ4F_compressEnd(ctx_, buf_.data(), buf_.size(), nullptr);
  Check(n, "LZ4F_compressEnd");
  Emit(n);
  result_.xxh3 = XXH3_64bits_digest(h64_);
  const XXH128_hash_t h128 = XXH3_128bits_digest(h128_);
  result_.xxh128_hex = Hex64(h128.high64) + Hex64(h128.low64);  // canonical: big-endian
  return result_;
}

void DecodeObject(ObjectReader& in, const std::string& what, uint64_t expected_size,
                  uint64_t expected_xxh3, const std::function<void(const char*, size_t)>& consume,
                  FrameCheck check) {
  LZ4F_dctx* dctx = nullptr;
  Check(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION), "LZ4F_createDecompressionContext");
  struct Free {
    LZ4F_dctx* d;
    XXH3_state_t* h;
    ~Free() {
      LZ4F_freeDecompressionContext(d);
      XXH3_freeState(h);
    }
  } release{dctx, XXH3_createState()};
  if (release.h == nullptr) throw std::bad_alloc();
  XXH3_64bits_reset(release.h);

  auto corrupt = [&](const std::string& why) {
    return bkp::Error(BKP_E_CORRUPT, what + ": " + why);
  };
  std::vector<char> input(kChunkBytes);
  std::vector<char> output(kChunkBytes);
  LZ4F_decompressOptions_t options{};
  options.skipChecksums = check == FrameCheck::kContentOnly ? 1 : 0;
  uint64_t produced = 0;
  size_t hint = 1;  // non-zero while the frame is incomplete
  bool frame_done = false;
  while (true) {
    const size_t got = in.Read(input.data(), input.size());
    if (got == 0) break;
    if (frame_done) throw corrupt("data after the end of the LZ4 frame");
    size_t pos = 0;
    while (pos < got) {
      size_t src = got - pos;
      size_t dst = output.size();
      hint = LZ4F_decompress(dctx, output.data(), &dst, input.data() + pos, &src, &options);
      if (LZ4F_isError(hint)) {
        throw corrupt(std::string("not a valid LZ4 frame (") + LZ4F_getErrorName(hint) + ")");
      }
      pos += src;
      if (dst > 0) {
        XXH3_64bits_update(release.h, output.data(), dst);
        produced += dst;
        if (produced > expected_size) {
          throw corrupt("decodes to more than the " + std::to_string(expected_size) +
                        " bytes recorded");
        }
        consume(output.data(), dst);
      }
      if (hint == 0) {
        frame_done = true;
        if (pos < got) throw corrupt("data after the end of the LZ4 frame");
        break;
      }
    }
  }
  if (!frame_done) throw corrupt("truncated: the LZ4 frame ends early");
  if (produced != expected_size) {
    throw corrupt("decodes to " + std::to_string(produced) + " bytes, " +
                  std::to_string(expected_size) + " recorded");
  }
  const uint64_t actual = XXH3_64bits_digest(release.h);
  if (actual != expected_xxh3) {
    throw corrupt("XXH3-64 of the decoded bytes is " + Hex64(actual) + ", " + Hex64(expected_xxh3) +
                  " recorded");
  }
}

}  // namespace repo
