// Zstandard object frames over libzstd (see zstd_frame.h).
#include "repo/zstd_frame.h"

#include <zstd.h>

#include <cstring>
#include <new>

#include "bkp/bkp_plugin.hpp"

namespace repo {
namespace {

// The frame header's first 5 bytes: the magic number (little-endian), then
// the frame header descriptor, whose bit 2 is Content_Checksum_flag.
constexpr uint32_t kZstdMagic = 0xFD2FB528u;
constexpr unsigned char kChecksumFlag = 0x04;
// The largest window a stored frame may ask of the decoder: levels up to
// 19 use at most 8 MiB (2^23); one more bit of headroom. A damaged or
// planted header asking for more is refused instead of allocated.
constexpr int kMaxWindowLog = 24;

void CheckZstd(size_t rc, const char* what) {
  if (ZSTD_isError(rc)) {
    throw bkp::Error(BKP_E_INTERNAL, std::string(what) + ": " + ZSTD_getErrorName(rc));
  }
}

struct CCtxFree {
  void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
};
struct DCtxFree {
  void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
};

// This thread's compression context, reset for a new frame.
ZSTD_CCtx* ThreadCCtx() {
  thread_local std::unique_ptr<ZSTD_CCtx, CCtxFree> cctx;
  if (!cctx) {
    cctx.reset(ZSTD_createCCtx());
    if (!cctx) throw std::bad_alloc();
  }
  CheckZstd(ZSTD_CCtx_reset(cctx.get(), ZSTD_reset_session_and_parameters), "ZSTD_CCtx_reset");
  return cctx.get();
}

ZSTD_DCtx* ThreadDCtx() {
  thread_local std::unique_ptr<ZSTD_DCtx, DCtxFree> dctx;
  if (!dctx) {
    dctx.reset(ZSTD_createDCtx());
    if (!dctx) throw std::bad_alloc();
    CheckZstd(ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kMaxWindowLog),
              "ZSTD_d_windowLogMax");
  }
  CheckZstd(ZSTD_DCtx_reset(dctx.get(), ZSTD_reset_session_only), "ZSTD_DCtx_reset");
  return dctx.get();
}

class ZstdEncoder final : public ObjectEncoder {
 public:
  ZstdEncoder(ObjectWriter& out, uint64_t size_hint, int level)
      : ObjectEncoder(out, size_hint), cctx_(ThreadCCtx()) {
    CheckZstd(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_compressionLevel, level),
              "ZSTD_c_compressionLevel");
    CheckZstd(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_checksumFlag, 1), "ZSTD_c_checksumFlag");
    CheckZstd(ZSTD_CCtx_setParameter(cctx_, ZSTD_c_contentSizeFlag, 1), "ZSTD_c_contentSizeFlag");
    // Announced, the size also lets zstd size its window and tables to it.
    if (size_hint != 0) {
      CheckZstd(ZSTD_CCtx_setPledgedSrcSize(cctx_, size_hint), "ZSTD_CCtx_setPledgedSrcSize");
    }
    out_capacity_ = ZSTD_CStreamOutSize();
    out_buf_ = std::make_unique_for_overwrite<char[]>(out_capacity_);
  }

 private:
  void Compress(const char* data, size_t len) override {
    ZSTD_inBuffer in{data, len, 0};
    while (in.pos < in.size) Step(&in, ZSTD_e_continue);
  }

  void End() override {
    ZSTD_inBuffer in{nullptr, 0, 0};
    while (Step(&in, ZSTD_e_end) != 0) {
    }
  }

  // One call of the stream, its output written out; what zstd has left to
  // flush.
  size_t Step(ZSTD_inBuffer* in, ZSTD_EndDirective mode) {
    ZSTD_outBuffer out{out_buf_.get(), out_capacity_, 0};
    const size_t left = ZSTD_compressStream2(cctx_, &out, in, mode);
    CheckZstd(left, "ZSTD_compressStream2");
    if (out.pos > 0) Emit(out_buf_.get(), out.pos);
    return left;
  }

  ZSTD_CCtx* cctx_;  // this thread's (ThreadCCtx)
  std::unique_ptr<char[]> out_buf_;
  size_t out_capacity_ = 0;
};

}  // namespace

uint64_t MaxZstdFrameSize(uint64_t original_size) {
  // ZSTD_COMPRESSBOUND's formula (blocks stored raw and their headers), plus
  // the frame header (at most 18 bytes) and the checksum.
  const uint64_t margin = original_size < (128u << 10) ? ((128u << 10) - original_size) >> 11 : 0;
  return original_size + (original_size >> 8) + margin + 18 + 4 + 64;
}

std::unique_ptr<ObjectEncoder> NewZstdEncoder(ObjectWriter& out, uint64_t size_hint, int level) {
  return std::make_unique<ZstdEncoder>(out, size_hint, level);
}

void DecodeZstdFrame(ObjectReader& in, const std::string& what,
                     const std::function<void(const char*, size_t)>& emit,
                     const std::function<char*()>& into) {
  auto corrupt = [&](const std::string& why) {
    return bkp::Error(BKP_E_CORRUPT, what + ": " + why);
  };
  ZSTD_DCtx* dctx = ThreadDCtx();
  const auto input = std::make_unique_for_overwrite<char[]>(kBlockBytes);
  const auto output = std::make_unique_for_overwrite<char[]>(kBlockBytes);
  unsigned char head[5] = {};
  size_t head_len = 0;
  bool frame_done = false;
  while (true) {
    const size_t got = in.Read(input.get(), kBlockBytes);
    if (got == 0) break;
    if (frame_done) throw corrupt("data after the end of the zstd frame");
    // libzstd would take a skippable frame, or a second frame, without a
    // word: the format is exactly one frame with its checksum.
    for (size_t i = 0; head_len < sizeof head && i < got; ++i) {
      head[head_len++] = static_cast<unsigned char>(input[i]);
    }
    if (head_len == sizeof head) {
      uint32_t magic = 0;
      for (int i = 3; i >= 0; --i) magic = magic << 8 | head[i];
      if (magic != kZstdMagic) throw corrupt("not a zstd frame (wrong magic number)");
      if ((head[4] & kChecksumFlag) == 0) {
        throw corrupt("the zstd frame carries no content checksum (the format requires one)");
      }
    }
    ZSTD_inBuffer src{input.get(), got, 0};
    while (src.pos < src.size || !frame_done) {
      char* const out = into ? into() : output.get();
      ZSTD_outBuffer dst{out, kBlockBytes, 0};
      const size_t rc = ZSTD_decompressStream(dctx, &dst, &src);
      if (ZSTD_isError(rc)) {
        throw corrupt(std::string("not a valid zstd frame (") + ZSTD_getErrorName(rc) + ")");
      }
      if (dst.pos > 0) emit(out, dst.pos);
      if (rc == 0) {
        frame_done = true;
        if (src.pos < src.size) throw corrupt("data after the end of the zstd frame");
        break;
      }
      // All input taken and nothing more to flush: read on.
      if (src.pos == src.size && dst.pos < dst.size) break;
    }
  }
  if (head_len < sizeof head) throw corrupt("truncated: too short for a zstd frame");
  if (!frame_done) throw corrupt("truncated: the zstd frame ends early");
}

}  // namespace repo
