// Object frames (LZ4 here, zstd in zstd_frame.cc) with XXH3 checksums (see
// object_codec.h).
#include "repo/object_codec.h"

#include <lz4.h>
#include <lz4frame.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <optional>
#include <stdexcept>

#include "bkp/bkp_plugin.hpp"
#include "repo/xxhash_dispatch.h"
#include "repo/zstd_frame.h"

namespace repo {
namespace {

// The frame format (lz4_Frame_format.md): magic, FLG, BD, content size,
// header checksum; blocks; end mark; content checksum.
constexpr uint32_t kFrameMagic = 0x184D2204;
constexpr uint8_t kFlgVersion01 = 0x40;
constexpr uint8_t kFlgBlockIndependent = 0x20;
constexpr uint8_t kFlgContentSize = 0x08;
constexpr uint8_t kFlgContentChecksum = 0x04;
// BD: maximum block size 1 MiB (code 6). 1 MiB independent blocks keep the
// per-worker buffers small and the ratio within a hair of 4 MiB blocks.
constexpr uint8_t kBdMax1MiB = 6 << 4;
constexpr uint32_t kUncompressedBlock = 0x80000000u;
static_assert(kBlockBytes == 1 << 20, "the frame header announces 1 MiB blocks");

void PutLe32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>(v >> (8 * i));
}

uint32_t GetLe32(const unsigned char* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24;
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
  // Header (magic, FLG, BD, content size, checksum); each block at most its
  // bytes stored raw plus its size word; end mark and content checksum.
  const uint64_t blocks = (original_size + kBlockBytes - 1) / kBlockBytes;
  return 4 + 2 + 8 + 1 + blocks * 4 + original_size + 4 + 4;
}

uint64_t MaxFrameSize(Codec codec, uint64_t original_size) {
  return codec == Codec::kZstd ? MaxZstdFrameSize(original_size) : MaxFrameSize(original_size);
}

ObjectEncoder::ObjectEncoder(ObjectWriter& out, uint64_t size_hint)
    : size_hint_(size_hint), out_(out) {
  h64_ = XXH3_createState();
  h128_ = XXH3_createState();
  if (h64_ == nullptr || h128_ == nullptr) {
    XXH3_freeState(h64_);
    XXH3_freeState(h128_);
    throw std::bad_alloc();
  }
  XXH3_64bits_reset(h64_);
  XXH3_128bits_reset(h128_);
}

ObjectEncoder::~ObjectEncoder() {
  XXH3_freeState(h64_);
  XXH3_freeState(h128_);
}

void ObjectEncoder::Emit(const void* data, size_t len) {
  out_.Append(data, len);
  result_.stored_size += len;
}

void ObjectEncoder::Update(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  XXH3_64bits_update(h64_, p, len);
  XXH3_128bits_update(h128_, p, len);
  result_.original_size += len;
  Compress(p, len);
}

EncodedObject ObjectEncoder::Finish() {
  // The header announced the size: a frame that disagrees is not valid.
  if (size_hint_ != 0 && result_.original_size != size_hint_) {
    throw bkp::Error(BKP_E_INTERNAL, "the frame announced " + std::to_string(size_hint_) +
                                         " bytes but was given " +
                                         std::to_string(result_.original_size));
  }
  End();
  result_.xxh3 = XXH3_64bits_digest(h64_);
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(h128_));
  static const char kDigits[] = "0123456789abcdef";
  result_.xxh128_hex.clear();
  for (unsigned char byte : canonical.digest) {
    result_.xxh128_hex += kDigits[byte >> 4];
    result_.xxh128_hex += kDigits[byte & 15];
  }
  EncodedObject out = result_;
  out.stored_size = out_.StoredBytes(result_.stored_size);  // what Stat will say
  return out;
}

std::unique_ptr<ObjectEncoder> NewEncoder(const Compression& compression, ObjectWriter& out,
                                          uint64_t size_hint) {
  if (compression.codec == Codec::kZstd) return NewZstdEncoder(out, size_hint, compression.level);
  return std::make_unique<FrameEncoder>(out, size_hint);
}

FrameEncoder::FrameEncoder(ObjectWriter& out, uint64_t size_hint) : ObjectEncoder(out, size_hint) {
  h32_ = XXH32_createState();
  if (h32_ == nullptr) throw std::bad_alloc();
  XXH32_reset(h32_, 0);
  lz4_state_ = std::make_unique_for_overwrite<char[]>(static_cast<size_t>(LZ4_sizeofState()));
  block_capacity_ = 4 + static_cast<size_t>(LZ4_compressBound(static_cast<int>(kBlockBytes)));
  block_ = std::make_unique_for_overwrite<char[]>(block_capacity_);

  char header[4 + 2 + 8 + 1];
  size_t n = 0;
  PutLe32(header, kFrameMagic);
  n += 4;
  const size_t descriptor = n;
  header[n++] = static_cast<char>(kFlgVersion01 | kFlgBlockIndependent | kFlgContentChecksum |
                                  (size_hint != 0 ? kFlgContentSize : 0));
  header[n++] = static_cast<char>(kBdMax1MiB);
  if (size_hint != 0) {
    PutLe32(header + n, static_cast<uint32_t>(size_hint));
    PutLe32(header + n + 4, static_cast<uint32_t>(size_hint >> 32));
    n += 8;
  }
  header[n] = static_cast<char>((XXH32(header + descriptor, n - descriptor, 0) >> 8) & 0xff);
  Emit(header, n + 1);
}

FrameEncoder::~FrameEncoder() { XXH32_freeState(h32_); }

void FrameEncoder::EmitBlock(const char* data, size_t len) {
  const int packed =
      LZ4_compress_fast_extState(lz4_state_.get(), data, block_.get() + 4, static_cast<int>(len),
                                 static_cast<int>(block_capacity_ - 4), 1);
  // A block LZ4 cannot shrink is stored as it is, flagged, as lz4frame does.
  if (packed <= 0 || static_cast<size_t>(packed) >= len) {
    PutLe32(block_.get(), static_cast<uint32_t>(len) | kUncompressedBlock);
    Emit(block_.get(), 4);
    Emit(data, len);
  } else {
    PutLe32(block_.get(), static_cast<uint32_t>(packed));
    Emit(block_.get(), 4 + static_cast<size_t>(packed));
  }
}

void FrameEncoder::Compress(const char* p, size_t len) {
  XXH32_update(h32_, p, len);
  while (len > 0) {
    // Whole blocks straight from the caller's buffer; the rest waits.
    if (pending_len_ == 0 && len >= kBlockBytes) {
      EmitBlock(p, kBlockBytes);
      p += kBlockBytes;
      len -= kBlockBytes;
      continue;
    }
    const size_t n = std::min(len, kBlockBytes - pending_len_);
    if (!pending_) pending_ = std::make_unique_for_overwrite<char[]>(kBlockBytes);
    std::memcpy(pending_.get() + pending_len_, p, n);
    pending_len_ += n;
    p += n;
    len -= n;
    if (pending_len_ == kBlockBytes) {
      EmitBlock(pending_.get(), pending_len_);
      pending_len_ = 0;
    }
  }
}

void FrameEncoder::End() {
  if (pending_len_ > 0) EmitBlock(pending_.get(), pending_len_);
  pending_len_ = 0;
  char trailer[8];
  PutLe32(trailer, 0);  // end mark
  PutLe32(trailer + 4, XXH32_digest(h32_));
  Emit(trailer, sizeof trailer);
}

namespace {

// Decodes one LZ4 frame from `in`, handing its bytes to `emit`.
void DecodeLz4Frame(ObjectReader& in, const std::string& what, FrameCheck check,
                    const std::function<void(const char*, size_t)>& emit,
                    const std::function<char*()>& into) {
  LZ4F_dctx* dctx = nullptr;
  Check(LZ4F_createDecompressionContext(&dctx, LZ4F_VERSION), "LZ4F_createDecompressionContext");
  struct Free {
    LZ4F_dctx* d;
    XXH32_state_t* h32;
    ~Free() {
      LZ4F_freeDecompressionContext(d);
      XXH32_freeState(h32);
    }
  } release{dctx, XXH32_createState()};
  if (release.h32 == nullptr) throw std::bad_alloc();
  XXH32_reset(release.h32, 0);
  const bool full = check == FrameCheck::kFull;

  auto corrupt = [&](const std::string& why) {
    return bkp::Error(BKP_E_CORRUPT, what + ": " + why);
  };
  const auto input = std::make_unique_for_overwrite<char[]>(kBlockBytes);
  const auto output = std::make_unique_for_overwrite<char[]>(kBlockBytes);
  // lz4frame's own checksum pass is slow (see object_codec.h): it is
  // skipped, and the content checksum is checked below with libxxhash. That
  // needs the frame's FLG byte (its 5th) and its last 4 bytes.
  LZ4F_decompressOptions_t options{};
  options.skipChecksums = 1;
  unsigned char head[5] = {};
  unsigned char tail[4] = {};
  uint64_t consumed = 0;
  auto note_consumed = [&](const char* p, size_t n) {
    for (size_t i = 0; consumed + i < sizeof head && i < n; ++i) {
      head[consumed + i] = static_cast<unsigned char>(p[i]);
    }
    if (n >= sizeof tail) {
      std::memcpy(tail, p + n - sizeof tail, sizeof tail);
    } else {
      std::memmove(tail, tail + n, sizeof tail - n);
      std::memcpy(tail + sizeof tail - n, p, n);
    }
    consumed += n;
  };
  size_t hint = 1;  // non-zero while the frame is incomplete
  bool frame_done = false;
  while (true) {
    const size_t got = in.Read(input.get(), kBlockBytes);
    if (got == 0) break;
    if (frame_done) throw corrupt("data after the end of the LZ4 frame");
    size_t pos = 0;
    while (pos < got) {
      size_t src = got - pos;
      size_t dst = kBlockBytes;
      char* const out = into ? into() : output.get();
      hint = LZ4F_decompress(dctx, out, &dst, input.get() + pos, &src, &options);
      if (LZ4F_isError(hint)) {
        throw corrupt(std::string("not a valid LZ4 frame (") + LZ4F_getErrorName(hint) + ")");
      }
      note_consumed(input.get() + pos, src);
      pos += src;
      if (dst > 0) {
        if (full) XXH32_update(release.h32, out, dst);
        emit(out, dst);
      }
      if (hint == 0) {
        frame_done = true;
        if (pos < got) throw corrupt("data after the end of the LZ4 frame");
        break;
      }
    }
  }
  if (!frame_done) throw corrupt("truncated: the LZ4 frame ends early");
  if (full) {
    if ((head[4] & kFlgContentChecksum) == 0) {
      throw corrupt("the LZ4 frame carries no content checksum (the format requires one)");
    }
    const uint32_t stored = GetLe32(tail);
    const uint32_t actual = XXH32_digest(release.h32);
    if (stored != actual) {
      char buf[96];
      std::snprintf(buf, sizeof buf, "the LZ4 frame's content checksum is %08x, its content %08x",
                    stored, actual);
      throw corrupt(buf);
    }
  }
}

// DecodeObject, and with no size or XXH3 expected, DecodeFrame.
void Decode(ObjectReader& in, Codec codec, const std::string& what,
            std::optional<uint64_t> expected_size, std::optional<uint64_t> expected_xxh3,
            const std::function<void(const char*, size_t)>& consume, FrameCheck check,
            const std::function<char*()>& into) {
  struct Free {
    XXH3_state_t* h;
    ~Free() { XXH3_freeState(h); }
  } release{XXH3_createState()};
  if (release.h == nullptr) throw std::bad_alloc();
  XXH3_64bits_reset(release.h);
  auto corrupt = [&](const std::string& why) {
    return bkp::Error(BKP_E_CORRUPT, what + ": " + why);
  };
  uint64_t produced = 0;
  const auto emit = [&](const char* data, size_t n) {
    XXH3_64bits_update(release.h, data, n);
    produced += n;
    if (expected_size && produced > *expected_size) {
      throw corrupt("decodes to more than the " + std::to_string(*expected_size) +
                    " bytes recorded");
    }
    consume(data, n);
  };
  if (codec == Codec::kZstd) {
    DecodeZstdFrame(in, what, emit, into);
  } else {
    DecodeLz4Frame(in, what, check, emit, into);
  }
  if (expected_size && produced != *expected_size) {
    throw corrupt("decodes to " + std::to_string(produced) + " bytes, " +
                  std::to_string(*expected_size) + " recorded");
  }
  const uint64_t actual = XXH3_64bits_digest(release.h);
  if (expected_xxh3 && actual != *expected_xxh3) {
    throw corrupt("XXH3-64 of the decoded bytes is " + Hex64(actual) + ", " +
                  Hex64(*expected_xxh3) + " recorded");
  }
}

}  // namespace

void DecodeObject(ObjectReader& in, Codec codec, const std::string& what, uint64_t expected_size,
                  uint64_t expected_xxh3, const std::function<void(const char*, size_t)>& consume,
                  FrameCheck check, const std::function<char*()>& into) {
  Decode(in, codec, what, expected_size, expected_xxh3, consume, check, into);
}

void DecodeObject(ObjectReader& in, const std::string& what, uint64_t expected_size,
                  uint64_t expected_xxh3, const std::function<void(const char*, size_t)>& consume,
                  FrameCheck check) {
  Decode(in, Codec::kLz4, what, expected_size, expected_xxh3, consume, check, nullptr);
}

void DecodeFrame(ObjectReader& in, Codec codec, const std::string& what,
                 const std::function<void(const char*, size_t)>& consume) {
  Decode(in, codec, what, std::nullopt, std::nullopt, consume, FrameCheck::kFull, nullptr);
}

}  // namespace repo
