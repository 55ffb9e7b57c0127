// Codec names, key extensions and the compression settings (see codec.h).
#include "repo/codec.h"

#include <cstdint>

#include "bkp/bkp_plugin.hpp"

namespace repo {

const char* CodecName(Codec codec) { return codec == Codec::kZstd ? "zstd" : "lz4"; }

std::optional<Codec> CodecFromName(const std::string& name) {
  if (name == "lz4") return Codec::kLz4;
  if (name == "zstd") return Codec::kZstd;
  return std::nullopt;
}

const char* CodecExtension(Codec codec) { return codec == Codec::kZstd ? ".zst" : ".lz4"; }

Codec CodecOfObject(const std::string& key) {
  const std::string zst = CodecExtension(Codec::kZstd);
  const bool zstd =
      key.size() > zst.size() && key.compare(key.size() - zst.size(), zst.size(), zst) == 0;
  return zstd ? Codec::kZstd : Codec::kLz4;
}

Compression ParseCompression(const std::optional<std::string>& compression,
                             const std::optional<int64_t>& level) {
  const std::string name = compression.value_or("lz4");
  const std::optional<Codec> codec = CodecFromName(name);
  if (!codec) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'compression' is '" + name +
                                                 "', must be 'lz4' (the default) or 'zstd'");
  }
  if (*codec == Codec::kLz4) {
    if (level) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       "setting 'compression_level' applies to compression = 'zstd' only (lz4 "
                       "has no levels here); remove it or set compression = 'zstd'");
    }
    return {Codec::kLz4, 0};
  }
  const int64_t chosen = level.value_or(kDefaultZstdLevel);
  if (chosen < kMinZstdLevel || chosen > kMaxZstdLevel) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "setting 'compression_level' is " + std::to_string(chosen) + ", must be " +
                         std::to_string(kMinZstdLevel) + "-" + std::to_string(kMaxZstdLevel) +
                         " for zstd (default " + std::to_string(kDefaultZstdLevel) + ")");
  }
  return {Codec::kZstd, static_cast<int>(chosen)};
}

}  // namespace repo
