// The err/err_len rules (bkp_plugin.h, ERRORS) on every failing call the kit
// can provoke: a message on failure, NUL-terminated within err_len,
// truncated rather than overrun, and nothing written when err is NULL or
// err_len is 0.
#include <cstring>
#include <functional>

#include "kit.h"

namespace bkp::conformance::detail {

namespace {

using Call = std::function<bkp_status(char* err, size_t err_len)>;

constexpr size_t kBuffer = 512;

bkp_status IgnoreProblem(void*, const bkp_verify_problem*) { return BKP_OK; }

// Runs `call` with buffers of several sizes and checks each outcome.
void CheckCall(const std::string& what, const Call& call, Problems* p) {
  char buf[kBuffer];
  std::memset(buf, 'x', sizeof buf);
  bkp_status st = call(buf, 256);
  if (st == BKP_OK) {
    p->push_back(what + ": returned BKP_OK where it must fail");
    return;
  }
  const void* nul = std::memchr(buf, '\0', 256);
  if (nul == nullptr) {
    p->push_back(what + ": no NUL within err_len 256");
  } else if (buf[0] == '\0') {
    p->push_back(what + ": failed with " + StatusText(st) + " and an empty message");
  }
  for (size_t i = 256; i < kBuffer; ++i) {
    if (buf[i] != 'x') {
      p->push_back(what + ": wrote past err_len 256 (byte " + std::to_string(i) + ")");
      break;
    }
  }

  std::memset(buf, 'x', sizeof buf);
  call(buf, 8);
  if (std::memchr(buf, '\0', 8) == nullptr) {
    p->push_back(what + ": with err_len 8 the message is not NUL-terminated within 8 bytes");
  }
  for (size_t i = 8; i < kBuffer; ++i) {
    if (buf[i] != 'x') {
      p->push_back(what + ": with err_len 8 it wrote byte " + std::to_string(i) +
                   " (truncate instead)");
      break;
    }
  }

  std::memset(buf, 'x', sizeof buf);
  call(buf, 0);
  for (size_t i = 0; i < kBuffer; ++i) {
    if (buf[i] != 'x') {
      p->push_back(what + ": wrote into err although err_len is 0");
      break;
    }
  }
  // A crash here ends the run: the rule is that nothing is written.
  if (call(nullptr, 0) == BKP_OK) p->push_back(what + ": err NULL: returned BKP_OK");
  if (call(nullptr, 64) == BKP_OK) p->push_back(what + ": err NULL, err_len 64: returned BKP_OK");
}

}  // namespace

void CheckErrorBuffers(Kit& kit) {
  Problems p;
  int calls = 0;
  for (const bkp_setting_spec& spec : kit.specs) {
    if ((spec.flags & BKP_SETTING_REQUIRED) == 0) continue;
    const std::string key = spec.key;
    auto strings = kit.host.string_settings;
    auto ints = kit.host.int_settings;
    auto bools = kit.host.bool_settings;
    kit.host.string_settings.erase(key);
    kit.host.int_settings.erase(key);
    kit.host.bool_settings.erase(key);
    const bkp_open_args args = kit.host.OpenArgs(kit.provider_name.c_str());
    CheckCall(
        "open without '" + key + "'",
        [&](char* err, size_t len) {
          bkp_instance* out = nullptr;
          const bkp_status st = kit.table.open(&args, &out, err, len);
          if (out != nullptr) kit.table.close(out);
          return out != nullptr && st == BKP_OK ? BKP_OK : (st == BKP_OK ? BKP_E_INTERNAL : st);
        },
        &p);
    ++calls;
    kit.host.string_settings = strings;
    kit.host.int_settings = ints;
    kit.host.bool_settings = bools;
    break;  // one required setting shows the rule
  }

  std::string why;
  bkp_instance* instance = kit.Open(&why);
  if (instance == nullptr) {
    p.push_back("cannot open an instance: " + why);
    kit.Conclude("err/err_len: messages on failure, within err_len, none for NULL or 0", p);
    return;
  }
  const char* kMissing = "bkp-conformance-no-such-backup";
  if (kit.Has(BKP_CAP_REMOVE)) {
    CheckCall(
        "remove of an unknown backup id",
        [&](char* err, size_t len) { return kit.table.remove(instance, kMissing, err, len); }, &p);
    ++calls;
  }
  if (kit.Has(BKP_CAP_RESTORE)) {
    CheckCall(
        "restore of an unknown backup id",
        [&](char* err, size_t len) {
          kit.host.ResetOperation();
          const bkp_restore_args args = kit.host.RestoreArgs(kMissing);
          return kit.table.restore(instance, &args, err, len);
        },
        &p);
    ++calls;
  }
  if (kit.Has(BKP_CAP_VERIFY)) {
    CheckCall(
        "verify of an unknown backup id",
        [&](char* err, size_t len) {
          kit.host.ResetOperation();
          return kit.table.verify(instance, kMissing, kit.host.op(), &IgnoreProblem, nullptr, err,
                                  len);
        },
        &p);
    ++calls;
  }
  if (kit.Has(BKP_CAP_BACKUP)) {
    kit.host.items = GenerateItems(kit.options.seed, 0);
    kit.host.read_failure = std::make_pair(BKP_E_IO, "fake host: the disk went away");
    CheckCall(
        "backup whose source_read fails",
        [&](char* err, size_t len) {
          kit.host.ResetOperation();
          bkp_backup_args args = kit.host.BackupArgs();
          bkp_backup_result result{};
          result.struct_size = sizeof result;
          return kit.table.backup(instance, &args, &result, err, len);
        },
        &p);
    kit.host.read_failure.reset();
    ++calls;
  }
  kit.table.close(instance);
  if (calls == 0)
    kit.Note(
        "err/err_len: no failing call to provoke (no required setting, no "
        "backup, restore, verify or remove)");
  kit.Conclude("err/err_len: messages on failure, within err_len, none for NULL or 0", p);
}

}  // namespace bkp::conformance::detail
