// The wal_archive provider: full and incremental backups plus the
// continuous archive of segments as they close (and pieces of the active
// ones), in a directory, for a recovery point of seconds and point-in-time
// restore. All of it is the engine's (provider_edge.h, archive.h,
// point_in_time.h); this file is its settings, its driver and its table.

#include "repo/posix/posix_driver.h"
#include "repo/provider_edge.h"

namespace {

constexpr repo::ProviderIdentity kIdentity = {"wal_archive", "0.1.0", /*incremental=*/true,
                                              /*archive=*/true};

const bkp_setting_spec kSettings[] = {
    {"path", BKP_SETTING_STRING, BKP_SETTING_REQUIRED,
     "directory of the repository and its archive (created if absent; must be empty or a "
     "repository)"},
    repo::kWorkersSetting,
    repo::kRateLimitSetting,
    repo::kCompressionSetting,
    repo::kCompressionLevelSetting,
    repo::kFullCheckEverySetting,
    repo::kEncryptionIdentitySetting,
    repo::kEncryptionRecipientsSetting,
};

bkp_status Open(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) noexcept {
  return repo::OpenInstance(kIdentity, repo::PosixDriverFromSettings, args, out, err, err_len);
}

constexpr bkp_provider kProvider = repo::ProviderTable(
    kIdentity, "full and incremental backups plus continuous archiving, for point-in-time restore",
    kSettings, Open);

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
