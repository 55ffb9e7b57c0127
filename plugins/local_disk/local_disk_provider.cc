// The local_disk provider: backups into a directory on this machine, in the
// shared repository format. Everything but its settings and its driver is
// the engine's shared edge (plugins/repo/provider_edge.h).

#include "repo/posix/posix_driver.h"
#include "repo/provider_edge.h"

namespace {

constexpr repo::ProviderIdentity kIdentity = {"local_disk", "0.2.0", /*incremental=*/false};

const bkp_setting_spec kSettings[] = {
    {"path", BKP_SETTING_STRING, BKP_SETTING_REQUIRED,
     "directory of the repository (created if absent; must be empty or a repository)"},
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
    kIdentity, "backups into a local directory: LZ4 or zstd frames by content, JSON manifests",
    kSettings, Open);

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
