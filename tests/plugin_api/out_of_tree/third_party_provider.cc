// third_party_provider.cc - a small C++17 backup provider written only
// against the installed bkp/bkp_plugin.hpp: reads every byte of the backup
// source through a std::vector buffer (std:: templates that must not leak
// into the exported symbols) and stores nothing. Setting: chunk_kib
// (integer, optional, default 256).
#include <bkp/bkp_plugin.hpp>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

// The plugin completes the ABI's opaque instance handle.
struct bkp_instance {
  bkp::Host host;
  size_t chunk = 256 * 1024;
};

namespace {

bkp_status Open(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    *out = nullptr;
    auto instance = std::make_unique<bkp_instance>();
    instance->host = bkp::Host(*args);
    const int64_t kib = bkp::Settings(*args).get_int("chunk_kib").value_or(256);
    if (kib < 1 || kib > 65536) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "third_party: chunk_kib must be 1..65536");
    }
    instance->chunk = static_cast<size_t>(kib) * 1024;
    *out = instance.release();
  });
}

void Close(bkp_instance* instance) noexcept { delete instance; }

bkp_status Backup(bkp_instance* handle, const bkp_backup_args* args, bkp_backup_result* result,
                  char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    const bkp_instance& self = *handle;
    const bkp::Source source(self.host.services(), *args);
    const bkp::Operation op(self.host.services(), args->op);
    std::vector<char> buffer(self.chunk);
    uint64_t bytes = 0;
    uint64_t files = 0;
    for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
      std::vector<bkp_item> items;
      source.list(role, [&](const bkp_item& item) { items.push_back(item); });
      for (const bkp_item& item : items) {
        for (uint64_t offset = 0; offset < item.size;) {
          op.throw_if_cancelled("third_party backup");
          const size_t got = source.read(item.id, offset, buffer.data(), buffer.size());
          if (got == 0) {
            throw bkp::Error(BKP_E_IO, std::string("third_party: ") + item.name + " ended early");
          }
          offset += got;
        }
        bytes += item.size;
        ++files;
      }
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                        std::chrono::system_clock::now().time_since_epoch())
                        .count();
    std::snprintf(result->backup_id, sizeof result->backup_id, "third-party-%lld",
                  static_cast<long long>(ms));
    result->bytes_read = bytes;
    result->files = files;
    self.host.logf(BKP_LOG_INFO, "third_party: read %llu files",
                   static_cast<unsigned long long>(files));
  });
}

const bkp_setting_spec kSettings[] = {
    {"chunk_kib", BKP_SETTING_INT, 0, "KiB per read, 1..65536 (default 256)"},
};

const bkp_provider kProvider = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    "third_party",
    "0.1.0",
    "out-of-tree example: reads the backup source and stores nothing",
    BKP_CAP_BACKUP,
    kSettings,
    1,
    sizeof(bkp_setting_spec),
    Open,
    Close,
    Backup,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
    nullptr, /* archive (1.1) */
    nullptr, /* archive_status (1.1) */
    nullptr, /* locks (1.2) */
};

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(
    const bkp_entry_args* args) noexcept {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
