// The two text encodings of the age format: unpadded canonical base64
// (RFC 4648 section 4, as the header's stanzas and MAC use it) and Bech32
// (BIP 173 without its length limit, as keys use it). Formats, not
// cryptography: written here so that decoding can be as strict as the age
// specification asks (no padding, no non-canonical trailing bits, one case).
//
// Errors: the decoders return std::nullopt on anything malformed; callers
// name what they were decoding.
// Thread-safety: reentrant.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace age {

std::string Base64Encode(std::span<const uint8_t> bytes);
std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text);

// Bech32 with human-readable part `hrp` (case as given: "age" gives
// lowercase "age1...", "AGE-SECRET-KEY-" gives uppercase).
std::string Bech32Encode(std::string_view hrp, std::span<const uint8_t> bytes);
struct Bech32Data {
  std::string hrp;  // lowercase
  std::vector<uint8_t> bytes;
};
// Accepts all-lowercase or all-uppercase text with a valid checksum.
std::optional<Bech32Data> Bech32Decode(std::string_view text);

}  // namespace age
