// Base64 and Bech32 for age (see age_encoding.h).
#include "repo/crypto/age_encoding.h"

#include <array>
#include <cctype>

namespace age {
namespace {

constexpr char kBase64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
constexpr char kBech32[] = "qpzry9x8gf2tvdw0s3jn54khce6mua7l";

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// BIP 173's checksum polynomial over the expanded hrp and the 5-bit data.
uint32_t Bech32Polymod(const std::vector<uint8_t>& values) {
  constexpr std::array<uint32_t, 5> kGen = {0x3b6a57b2, 0x26508e6d, 0x1ea119fa, 0x3d4233dd,
                                            0x2a1462b3};
  uint32_t chk = 1;
  for (uint8_t v : values) {
    const uint32_t top = chk >> 25;
    chk = ((chk & 0x1ffffff) << 5) ^ v;
    for (int i = 0; i < 5; ++i) {
      if ((top >> i) & 1) chk ^= kGen[i];
    }
  }
  return chk;
}

std::vector<uint8_t> HrpExpand(std::string_view hrp) {
  std::vector<uint8_t> out;
  for (char c : hrp) out.push_back(static_cast<uint8_t>(std::tolower(c)) >> 5);
  out.push_back(0);
  for (char c : hrp) out.push_back(static_cast<uint8_t>(std::tolower(c)) & 31);
  return out;
}

// Regroups bits; `pad` for 8 -> 5. From 5 -> 8 the leftover bits must be
// fewer than 5 and zero (BIP 173's canonical form).
std::optional<std::vector<uint8_t>> Regroup(std::span<const uint8_t> in, int from, int to,
                                            bool pad) {
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  const uint32_t mask = (1u << to) - 1;
  for (uint8_t v : in) {
    acc = (acc << from) | v;
    bits += from;
    while (bits >= to) {
      bits -= to;
      out.push_back(static_cast<uint8_t>((acc >> bits) & mask));
    }
  }
  if (pad) {
    if (bits > 0) out.push_back(static_cast<uint8_t>((acc << (to - bits)) & mask));
  } else if (bits >= from || ((acc << (to - bits)) & mask) != 0) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string Base64Encode(std::span<const uint8_t> bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
    out += kBase64[v & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest == 1) {
    const uint32_t v = bytes[i] << 16;
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
  } else if (rest == 2) {
    const uint32_t v = (bytes[i] << 16) | (bytes[i + 1] << 8);
    out += kBase64[v >> 18];
    out += kBase64[(v >> 12) & 63];
    out += kBase64[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;
  std::vector<uint8_t> out;
  out.reserve(text.size() * 3 / 4);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int v = Base64Value(c);
    if (v < 0) return std::nullopt;  // padding included
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  // Canonical: the bits left over after the last whole byte are zero.
  if (acc != 0) return std::nullopt;
  return out;
}

std::string Bech32Encode(std::string_view hrp, std::span<const uint8_t> bytes) {
  const bool upper = !hrp.empty() && std::isupper(static_cast<unsigned char>(hrp[0]));
  std::vector<uint8_t> data = *Regroup(bytes, 8, 5, true);
  std::vector<uint8_t> values = HrpExpand(hrp);
  values.insert(values.end(), data.begin(), data.end());
  values.insert(values.end(), 6, 0);
  const uint32_t mod = Bech32Polymod(values) ^ 1;
  for (int i = 0; i < 6; ++i) data.push_back(static_cast<uint8_t>((mod >> (5 * (5 - i))) & 31));
  std::string out(hrp);
  out += '1';
  for (uint8_t v : data) {
    const char c = kBech32[v];
    out += upper ? static_cast<char>(std::toupper(static_cast<unsigned char>(c))) : c;
  }
  return out;
}

std::optional<Bech32Data> Bech32Decode(std::string_view text) {
  bool lower = false;
  bool upper = false;
  for (char c : text) {
    if (c < 33 || c > 126) return std::nullopt;
    if (std::islower(static_cast<unsigned char>(c))) lower = true;
    if (std::isupper(static_cast<unsigned char>(c))) upper = true;
  }
  if (lower && upper) return std::nullopt;
  const size_t sep = text.rfind('1');
  if (sep == std::string_view::npos || sep == 0 || sep + 7 > text.size()) return std::nullopt;
  Bech32Data out;
  for (char c : text.substr(0, sep)) {
    out.hrp += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  std::vector<uint8_t> data;
  for (char c : text.substr(sep + 1)) {
    const char lc = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const char* at = std::char_traits<char>::find(kBech32, 32, lc);
    if (at == nullptr) return std::nullopt;
    data.push_back(static_cast<uint8_t>(at - kBech32));
  }
  std::vector<uint8_t> values = HrpExpand(out.hrp);
  values.insert(values.end(), data.begin(), data.end());
  if (Bech32Polymod(values) != 1) return std::nullopt;
  data.resize(data.size() - 6);
  auto bytes = Regroup(data, 5, 8, false);
  if (!bytes) return std::nullopt;
  out.bytes = std::move(*bytes);
  return out;
}

}  // namespace age
