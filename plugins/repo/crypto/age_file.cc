// age v1 header and STREAM payload (see age_file.h).
#include "repo/crypto/age_file.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <string_view>
#include <utility>

#include "bkp/bkp_plugin.hpp"
#include "repo/crypto/age_encoding.h"

namespace age {
namespace {

constexpr std::string_view kVersionLine = "age-encryption.org/v1\n";
constexpr std::string_view kMacMark = "---";
constexpr std::string_view kArmorBegin = "-----BEGIN AGE ENCRYPTED FILE-----";
// Recipient types of the age ecosystem this engine knows and does not read.
constexpr std::string_view kScryptType = "scrypt";
constexpr std::string_view kHybridType = "mlkem768x25519";
constexpr size_t kBodyColumns = 64;
constexpr size_t kMacBase64 = 43;
// A header is a few hundred bytes per recipient; more than this is not a
// file we wrote or one worth reading.
constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kHeaderReadStep = 1024;
// The sealed bytes read ahead: 16 chunks and the header's read step.
constexpr size_t kReadAheadBytes = 16 * kSealedChunkBytes + kHeaderReadStep;

Key32 HeaderMac(const FileKey& file_key, std::string_view header_to_mark) {
  const Key32 mac_key = HkdfSha256(file_key, {}, "header");
  return HmacSha256(
      mac_key, {reinterpret_cast<const uint8_t*>(header_to_mark.data()), header_to_mark.size()});
}

Key32 PayloadKey(const FileKey& file_key, const uint8_t* nonce) {
  return HkdfSha256(file_key, {nonce, kPayloadNonceBytes}, "payload");
}

// The STREAM nonce: an 11-byte big-endian counter and the last-chunk flag.
std::array<uint8_t, ChaChaPoly::kNonceBytes> ChunkNonce(uint64_t counter, bool last) {
  std::array<uint8_t, ChaChaPoly::kNonceBytes> nonce{};
  for (int i = 0; i < 8; ++i) nonce[10 - i] = static_cast<uint8_t>(counter >> (8 * i));
  nonce[11] = last ? 1 : 0;
  return nonce;
}

bool IsVchar(char c) { return c >= 33 && c <= 126; }

[[noreturn]] void Corrupt(const std::string& what, const std::string& why) {
  throw bkp::Error(BKP_E_CORRUPT, what + " is not a readable age file: " + why);
}

// A parsed header: the stanzas, the bytes the MAC covers, the MAC.
struct Header {
  std::vector<Stanza> stanzas;
  size_t mac_covers = 0;  // bytes up to and including "---"
  size_t length = 0;      // the whole header, through the MAC line's LF
  std::vector<uint8_t> mac;
};

// Parses the header at the start of `text`; nullopt if `text` ends before
// the header does (more must be read).
std::optional<Header> ParseHeader(std::string_view text, const std::string& what) {
  if (text.size() < kVersionLine.size() && kVersionLine.substr(0, text.size()) == text) {
    return std::nullopt;
  }
  if (text.substr(0, kVersionLine.size()) != kVersionLine) {
    // The ASCII armor (PEM-like, optionally wrapped in whitespace) is a
    // valid age file we deliberately do not read: say so, not "corrupt".
    const size_t start = std::min(text.find_first_not_of(" \t\r\n"), text.size());
    const std::string_view rest = text.substr(start);
    if (rest.size() < kArmorBegin.size() && kArmorBegin.substr(0, rest.size()) == rest &&
        text.size() < kMaxHeaderBytes) {
      return std::nullopt;
    }
    if (rest.substr(0, kArmorBegin.size()) == kArmorBegin) {
      throw bkp::Error(BKP_E_UNSUPPORTED,
                       what +
                           " is an ASCII-armored age file, which is not supported here: "
                           "the repository reads binary age files only (`age -d` reads both)");
    }
    Corrupt(what, "no age-encryption.org/v1 version line");
  }
  Header h;
  size_t at = kVersionLine.size();
  auto next_line = [&](std::string_view* line) {
    const size_t lf = text.find('\n', at);
    if (lf == std::string_view::npos) return false;
    *line = text.substr(at, lf - at);
    at = lf + 1;
    return true;
  };
  for (;;) {
    std::string_view line;
    const size_t line_start = at;
    if (!next_line(&line)) return std::nullopt;
    if (line.substr(0, 3) == kMacMark) {
      if (h.stanzas.empty()) Corrupt(what, "a header without recipient stanzas");
      if (line.size() != 4 + kMacBase64 || line[3] != ' ') Corrupt(what, "a malformed MAC line");
      auto mac = Base64Decode(line.substr(4));
      if (!mac || mac->size() != 32) Corrupt(what, "a malformed header MAC");
      h.mac = std::move(*mac);
      h.mac_covers = line_start + 3;
      h.length = at;
      return h;
    }
    if (line.substr(0, 3) != "-> ") Corrupt(what, "a header line that is neither stanza nor MAC");
    Stanza s;
    std::string_view args = line.substr(3);
    for (;;) {
      const size_t sp = args.find(' ');
      const std::string_view arg = args.substr(0, sp);
      if (arg.empty() || !std::all_of(arg.begin(), arg.end(), IsVchar)) {
        Corrupt(what, "a malformed stanza argument");
      }
      s.args.emplace_back(arg);
      if (sp == std::string_view::npos) break;
      args = args.substr(sp + 1);
    }
    std::string body;
    for (;;) {
      std::string_view body_line;
      if (!next_line(&body_line)) return std::nullopt;
      if (body_line.size() > kBodyColumns) Corrupt(what, "a stanza body line over 64 columns");
      body += body_line;
      if (body_line.size() < kBodyColumns) break;
    }
    auto decoded = Base64Decode(body);
    if (!decoded) Corrupt(what, "a stanza body that is not canonical base64");
    s.body = std::move(*decoded);
    h.stanzas.push_back(std::move(s));
  }
}

std::string EncodeStanza(const Stanza& s) {
  std::string out = "->";
  for (const auto& a : s.args) out += " " + a;
  out += '\n';
  const std::string body = Base64Encode(s.body);
  // Full 64-column lines, then one shorter (maybe empty) line ends it.
  size_t at = 0;
  for (; at + kBodyColumns <= body.size(); at += kBodyColumns) {
    out += body.substr(at, kBodyColumns) + "\n";
  }
  out += body.substr(at) + "\n";
  return out;
}

}  // namespace

uint64_t PayloadBytes(uint64_t plain) {
  const uint64_t chunks = plain == 0 ? 1 : (plain + kChunkBytes - 1) / kChunkBytes;
  return kPayloadNonceBytes + plain + chunks * ChaChaPoly::kTagBytes;
}

std::optional<uint64_t> PlainBytes(uint64_t payload) {
  if (payload < kPayloadNonceBytes + ChaChaPoly::kTagBytes) return std::nullopt;
  const uint64_t sealed = payload - kPayloadNonceBytes;
  const uint64_t chunks = (sealed + kSealedChunkBytes - 1) / kSealedChunkBytes;
  const uint64_t plain = sealed - chunks * ChaChaPoly::kTagBytes;
  if (PayloadBytes(plain) != payload) return std::nullopt;
  return plain;
}

Encryptor::Encryptor(const std::vector<Recipient>& to, Sink sink)
    : sink_(std::move(sink)), chunk_(std::make_unique_for_overwrite<uint8_t[]>(kSealedChunkBytes)) {
  if (to.empty()) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "age encryption needs a recipient");
  FileKey file_key{};
  RandomBytes(file_key);
  std::string header(kVersionLine);
  for (const auto& r : to) header += EncodeStanza(WrapFileKey(file_key, r));
  header += kMacMark;
  const Key32 mac = HeaderMac(file_key, header);
  header += " " + Base64Encode(mac) + "\n";
  std::array<uint8_t, kPayloadNonceBytes> nonce{};
  RandomBytes(nonce);
  aead_ = std::make_unique<ChaChaPoly>(PayloadKey(file_key, nonce.data()));
  header_bytes_ = header.size();
  sink_(reinterpret_cast<const uint8_t*>(header.data()), header.size());
  sink_(nonce.data(), nonce.size());
}

Encryptor::~Encryptor() = default;

void Encryptor::Seal(bool last) {
  const auto nonce = ChunkNonce(counter_++, last);
  aead_->Seal(nonce.data(), chunk_.get(), chunk_len_, chunk_.get());
  sink_(chunk_.get(), chunk_len_ + ChaChaPoly::kTagBytes);
  chunk_len_ = 0;
}

void Encryptor::Update(const void* data, size_t len) {
  if (finished_) throw bkp::Error(BKP_E_INTERNAL, "age Encryptor::Update after Finish");
  const auto* p = static_cast<const uint8_t*>(data);
  while (len > 0) {
    // A full chunk is sealed only once more bytes arrive: the last chunk
    // must carry the last-chunk flag, and it may be a full one.
    if (chunk_len_ == kChunkBytes) Seal(false);
    if (chunk_len_ == 0 && len > kChunkBytes) {
      // A whole chunk with more to follow: sealed from the caller's bytes
      // into the output buffer, without copying it in first.
      const auto nonce = ChunkNonce(counter_++, false);
      aead_->Seal(nonce.data(), p, kChunkBytes, chunk_.get());
      sink_(chunk_.get(), kSealedChunkBytes);
      p += kChunkBytes;
      len -= kChunkBytes;
      continue;
    }
    const size_t n = std::min(len, kChunkBytes - chunk_len_);
    std::memcpy(chunk_.get() + chunk_len_, p, n);
    chunk_len_ += n;
    p += n;
    len -= n;
  }
}

void Encryptor::Finish() {
  if (finished_) return;
  Seal(true);
  finished_ = true;
}

Decryptor::Decryptor(const std::vector<Identity>& identities, Source source, std::string what)
    : source_(std::move(source)),
      what_(std::move(what)),
      in_(std::make_unique_for_overwrite<uint8_t[]>(kReadAheadBytes)),
      plain_(std::make_unique_for_overwrite<uint8_t[]>(kChunkBytes)) {
  std::string text;
  std::optional<Header> header;
  while (!(header = ParseHeader(text, what_))) {
    if (text.size() >= kMaxHeaderBytes) Corrupt(what_, "a header over 64 KiB");
    const size_t old = text.size();
    text.resize(old + kHeaderReadStep);
    const size_t n = source_(text.data() + old, kHeaderReadStep);
    text.resize(old + n);
    if (n == 0) Corrupt(what_, old == 0 ? "it is empty" : "it ends inside its header");
  }
  const auto has_type = [&](std::string_view type) {
    return std::any_of(header->stanzas.begin(), header->stanzas.end(),
                       [&](const Stanza& st) { return st.args[0] == type; });
  };
  if (has_type(kScryptType)) {
    // The specification: an scrypt stanza must be the header's only one.
    if (header->stanzas.size() > 1) Corrupt(what_, "an scrypt stanza beside other stanzas");
    throw bkp::Error(BKP_E_UNSUPPORTED,
                     what_ +
                         " is encrypted with a passphrase (an scrypt stanza), which is not "
                         "supported here: the repository encrypts to X25519 recipients only");
  }
  std::optional<FileKey> file_key;
  for (const auto& identity : identities) {
    for (const auto& stanza : header->stanzas) {
      if ((file_key = UnwrapFileKey(stanza, identity))) break;
    }
    if (file_key) break;
  }
  if (!file_key && has_type(kHybridType)) {
    throw bkp::Error(BKP_E_UNSUPPORTED,
                     what_ + " is encrypted to a post-quantum hybrid recipient (" +
                         std::string(kHybridType) +
                         ", ML-KEM-768 + X25519), which is not supported here, and to none of "
                         "the X25519 identities given");
  }
  if (!file_key) {
    std::string ours;
    for (const auto& identity : identities) {
      ours += (ours.empty() ? "" : ", ") + identity.recipient.ToString();
    }
    throw bkp::Error(BKP_E_CORRUPT, what_ + " is not encrypted to the identity given (recipient " +
                                        ours + "): none of its " +
                                        std::to_string(header->stanzas.size()) +
                                        " recipient stanza(s) opens with it");
  }
  const Key32 mac = HeaderMac(*file_key, std::string_view(text).substr(0, header->mac_covers));
  if (!EqualConstantTime(mac, header->mac)) {
    Corrupt(what_, "its header MAC does not match (the header was altered)");
  }
  header_bytes_ = header->length;
  in_len_ = text.size() - header->length;
  std::memcpy(in_.get(), text.data() + header->length, in_len_);
  if (Fill(kPayloadNonceBytes) < kPayloadNonceBytes) Corrupt(what_, "it ends before its payload");
  aead_ = std::make_unique<ChaChaPoly>(PayloadKey(*file_key, in_.get() + in_at_));
  in_at_ += kPayloadNonceBytes;
  in_len_ -= kPayloadNonceBytes;
}

Decryptor::~Decryptor() = default;

size_t Decryptor::Fill(size_t want) {
  if (in_len_ >= want || source_done_) return in_len_;
  if (in_at_ + want > kReadAheadBytes) {
    std::memmove(in_.get(), in_.get() + in_at_, in_len_);
    in_at_ = 0;
  }
  while (in_len_ < want && !source_done_) {
    // As much as fits, not just what is wanted: ~1 MiB reads, not one
    // read of the source per 64 KiB chunk.
    const size_t end = in_at_ + in_len_;
    const size_t n = source_(in_.get() + end, kReadAheadBytes - end);
    if (n == 0) source_done_ = true;
    in_len_ += n;
  }
  return in_len_;
}

size_t Decryptor::OpenChunk(uint8_t* into) {
  // Built only for an error: this runs once per 64 KiB.
  const auto chunk = [&] { return "chunk " + std::to_string(counter_); };
  if (trailing_) {
    // Checked only now, after the final chunk's plaintext was released:
    // the specification's vectors count that plaintext as delivered.
    Corrupt(what_, "bytes follow its final chunk (" + std::to_string(counter_ - 1) + ")");
  }
  Fill(kSealedChunkBytes + 1);
  if (in_len_ == 0) {
    Corrupt(what_,
            "it ends before " + chunk() + ": truncated after a chunk not marked as the last");
  }
  const size_t sealed = std::min(in_len_, kSealedChunkBytes);
  const bool more = in_len_ > kSealedChunkBytes;
  if (sealed < ChaChaPoly::kTagBytes) Corrupt(what_, "it ends inside " + chunk() + " (truncated)");
  if (sealed == ChaChaPoly::kTagBytes && counter_ > 0) {
    Corrupt(what_, "an empty " + chunk() + " after chunk " + std::to_string(counter_ - 1));
  }
  // A short chunk can only be the last. A full one is either: try first
  // what its position suggests (more bytes follow: not the last), then the
  // other, so a file cut after a full chunk, or with bytes after its final
  // chunk, releases every chunk that authenticates and then fails at the
  // right place, as the specification's vectors expect.
  bool last = !more;
  const uint8_t* in = in_.get() + in_at_;
  bool opened = aead_->Open(ChunkNonce(counter_, last).data(), in, sealed, into);
  if (!opened && sealed == kSealedChunkBytes) {
    last = !last;
    opened = aead_->Open(ChunkNonce(counter_, last).data(), in, sealed, into);
  }
  const size_t plain = sealed - ChaChaPoly::kTagBytes;
  if (!opened) {
    // `into` may be the caller's buffer: leave no unauthenticated bytes.
    std::memset(into, 0, plain);
    Corrupt(what_, chunk() + " does not authenticate: the file was altered or truncated");
  }
  ++counter_;
  in_at_ = in_len_ == sealed ? 0 : in_at_ + sealed;
  in_len_ -= sealed;
  done_ = last && !more;
  trailing_ = last && more;
  return plain;
}

size_t Decryptor::Read(void* buf, size_t len) {
  if (pending_) std::rethrow_exception(std::exchange(pending_, nullptr));
  auto* out = static_cast<uint8_t*>(buf);
  size_t given = 0;
  while (given < len) {
    if (plain_at_ == plain_len_) {
      if (done_) break;
      try {
        if (len - given >= kChunkBytes) {
          // A whole chunk fits: straight into the caller's buffer.
          given += OpenChunk(out + given);
        } else {
          plain_len_ = OpenChunk(plain_.get());
          plain_at_ = 0;
        }
      } catch (const bkp::Error&) {
        // What authenticated is the caller's before the next chunk's
        // failure: return it now, and the failure on the next call.
        if (given == 0) throw;
        pending_ = std::current_exception();
        break;
      }
      continue;
    }
    const size_t n = std::min(len - given, plain_len_ - plain_at_);
    std::memcpy(out + given, plain_.get() + plain_at_, n);
    plain_at_ += n;
    given += n;
  }
  return given;
}

std::string EncryptString(const std::vector<Recipient>& to, const std::string& plain) {
  std::string out;
  Encryptor enc(to, [&](const uint8_t* data, size_t len) {
    out.append(reinterpret_cast<const char*>(data), len);
  });
  enc.Update(plain.data(), plain.size());
  enc.Finish();
  return out;
}

std::string DecryptString(const std::vector<Identity>& identities, const std::string& file,
                          const std::string& what) {
  size_t at = 0;
  Decryptor dec(
      identities,
      [&](void* buf, size_t len) {
        const size_t n = std::min(len, file.size() - at);
        std::memcpy(buf, file.data() + at, n);
        at += n;
        return n;
      },
      what);
  std::string out;
  char buf[16384];
  while (size_t n = dec.Read(buf, sizeof buf)) out.append(buf, n);
  return out;
}

}  // namespace age
