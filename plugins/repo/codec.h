// Which compression a stored object uses, and how a provider's settings
// choose it: `compression` ("lz4", the default, or "zstd") and, for zstd,
// `compression_level`. An object's key ends in the codec's extension
// (objects/<xx>/<name>.lz4 or .zst) and the documents that list it say the
// codec too (file_entry.h's Chunk), so one repository may hold both.
//
// Errors: ParseCompression throws bkp::Error(BKP_E_INVALID_ARGUMENT) naming
// the setting and what it allows.
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace repo {

enum class Codec {
  kLz4,   // an LZ4 frame (`lz4 -d`), the format's first codec
  kZstd,  // a Zstandard frame (`zstd -d`)
};

// zstd's levels this engine accepts. Above 19 ("ultra") zstd wants windows
// far larger than a 64 MiB chunk can use.
inline constexpr int kMinZstdLevel = 1;
inline constexpr int kMaxZstdLevel = 19;
// Chosen by measurement (docs/BENCHMARKS.md, 1 GiB of events): level 1
// stores within 1 % of level 3 (the frame's 64 MiB stream, not the level,
// makes most of the gain over LZ4) at three times its speed; level 3 fell
// short of twice restic's backup throughput on the loaded 2-core machine.
inline constexpr int kDefaultZstdLevel = 1;

struct Compression {
  Codec codec = Codec::kLz4;
  int level = 0;  // zstd only: kMinZstdLevel..kMaxZstdLevel

  bool operator==(const Compression&) const = default;
};

// "lz4" or "zstd": the setting's value and the manifest's `codec` field.
const char* CodecName(Codec codec);
// The codec `name` names, or nothing.
std::optional<Codec> CodecFromName(const std::string& name);
// ".lz4" or ".zst": how the key of an object of that codec ends.
const char* CodecExtension(Codec codec);
// The codec an object key's extension says (".zst": zstd; anything else,
// as every key before zstd was, LZ4).
Codec CodecOfObject(const std::string& key);

// The `compression` and `compression_level` settings (either may be
// absent): lz4 by default, zstd at kDefaultZstdLevel unless a level is
// given. A level with lz4, an unknown codec or a level out of range is
// refused.
Compression ParseCompression(const std::optional<std::string>& compression,
                             const std::optional<int64_t>& level);

}  // namespace repo
