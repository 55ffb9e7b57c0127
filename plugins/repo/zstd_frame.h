// The zstd side of object_codec.h: one Zstandard frame per object, as the
// stock `zstd` writes and reads it (RFC 8878), with the content size in its
// header and its XXH64 content checksum on, built with Debian's libzstd.
// Unlike an LZ4 frame's independent 1 MiB blocks, the frame is one stream:
// each block may refer back into the window (512 KiB at level 1, 2 MiB at
// level 3), which is
// most of why it stores smaller.
//
// Compression contexts are kept per thread and reused (ZSTD_CCtx_reset):
// building one costs a few MiB of fresh pages, more than a small object's
// whole encoding.
//
// Errors: the encoder throws bkp::Error(BKP_E_INTERNAL) when libzstd
// fails; DecodeZstdFrame throws bkp::Error(BKP_E_CORRUPT) naming `what`
// and the reason. I/O errors come from the driver.
// Thread-safety: as object_codec.h (an encoder belongs to one thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "repo/object_codec.h"
#include "repo/storage_driver.h"

namespace repo {

// The most bytes the zstd frame of `original_size` bytes can take.
uint64_t MaxZstdFrameSize(uint64_t original_size);

// An encoder writing one zstd frame at `level` (codec.h's range) to `out`.
std::unique_ptr<ObjectEncoder> NewZstdEncoder(ObjectWriter& out, uint64_t size_hint, int level);

// Decodes exactly one zstd frame from `in`, handing its bytes to `emit` as
// they come: refuses anything else (another magic, a frame without its
// content checksum, a checksum or block that does not match, a truncated
// frame, bytes after it). Decodes into `into`'s buffers when given
// (DecodeObject in object_codec.h).
void DecodeZstdFrame(ObjectReader& in, const std::string& what,
                     const std::function<void(const char*, size_t)>& emit,
                     const std::function<char*()>& into = nullptr);

}  // namespace repo
