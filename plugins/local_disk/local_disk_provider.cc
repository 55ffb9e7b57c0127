// The local_disk provider: backups into a directory on this machine, in the
// shared repository format. Everything but its settings and its driver is
// the engine's shared edge (plugins/repo/provider_edge.h).
#include <memory>
#include <string>

#include "posix_driver.h"
#include "provider_edge.h"

namespace {

constexpr repo::ProviderIdentity kIdentity = {"local_disk", "0.2.0", /*incremental=*/false};

const bkp_setting_spec kSettings[] = {
    {"path", BKP_SETTING_STRING, BKP_SETTING_REQUIRED,
     "directory of the repository (created if absent; must be empty or a repository)"},
    repo::kWorkersSetting,
    repo::kRateLimitSetting,
};

std::shared_ptr<repo::StorageDriver> MakeDriver(const bkp::Settings& settings) {
  const std::string path = settings.get_string("path").value_or("");
  if (path.empty()) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'path' must not be empty");
  return std::make_shared<repo::PosixDriver>(path);
}

bkp_status Open(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) noexcept {
  return repo::OpenInstance(kIdentity, MakeDriver, args, out, err, err_len);
}

const bkp_provider kProvider = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    kIdentity.name,
    kIdentity.version,
    "backups into a local directory: LZ4 frames by content, JSON manifests",
    repo::kEngineCapabilities,
    kSettings,
    sizeof kSettings / sizeof kSettings[0],
    sizeof(bkp_setting_spec),
    Open,
    repo::CloseInstance,
    repo::BackupInstance,
    repo::RestoreInstance,
    repo::ListInstance,
    repo::VerifyInstance,
    repo::RemoveInstance,
    repo::ExpireInstance,
    nullptr,  // archive: wal_archive archives
    nullptr,
};

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
