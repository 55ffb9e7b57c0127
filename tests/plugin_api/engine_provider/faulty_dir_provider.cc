// The faulty_dir provider: full and incremental backups in the project's
// repository format, in a directory, through a StorageDriver of its own
// (faulty_dir_driver.h). Built on the installed engine only: everything but
// its settings and its driver is repo/provider_edge.h's.
#include <memory>
#include <string>

#include "faulty_dir_driver.h"
#include "repo/engine_version.h"
#include "repo/provider_edge.h"

static_assert(BKP_REPO_ENGINE_API_VERSION_MAJOR == 1, "written against the engine API 1.x");

namespace {

constexpr repo::ProviderIdentity kIdentity = {"faulty_dir", "0.1.0", /*incremental=*/true};

const bkp_setting_spec kSettings[] = {
    {"path", BKP_SETTING_STRING, BKP_SETTING_REQUIRED,
     "directory of the repository (created if absent; must be empty or a repository)"},
    {"fault", BKP_SETTING_STRING, 0,
     "fail on purpose: none (default), no_space, short_write or torn_rename"},
    {"fault_after", BKP_SETTING_INT, 0,
     "bytes written (no_space, short_write) or objects committed (torn_rename) before the "
     "fault (default 0)"},
    repo::kWorkersSetting,
    repo::kRateLimitSetting,
    repo::kCompressionSetting,
    repo::kCompressionLevelSetting,
    repo::kFullCheckEverySetting,
    repo::kEncryptionIdentitySetting,
    repo::kEncryptionRecipientsSetting,
};

faulty_dir::Faults ReadFaults(const bkp::Settings& settings) {
  faulty_dir::Faults faults;
  const std::string kind = settings.get_string("fault").value_or("none");
  if (kind == "no_space") {
    faults.kind = faulty_dir::Faults::Kind::kNoSpace;
  } else if (kind == "short_write") {
    faults.kind = faulty_dir::Faults::Kind::kShortWrite;
  } else if (kind == "torn_rename") {
    faults.kind = faulty_dir::Faults::Kind::kTornRename;
  } else if (kind != "none") {
    throw bkp::Error(
        BKP_E_INVALID_ARGUMENT,
        "setting 'fault' is '" + kind + "': expected none, no_space, short_write or torn_rename");
  }
  const int64_t after = settings.get_int("fault_after").value_or(0);
  if (after < 0) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "setting 'fault_after' is " + std::to_string(after) + ", must be >= 0");
  }
  faults.after = static_cast<uint64_t>(after);
  return faults;
}

// The DriverFactory: throws bkp::Error naming the setting on a bad one.
std::shared_ptr<repo::StorageDriver> MakeDriver(const bkp::Settings& settings) {
  const auto path = settings.get_string("path");
  if (!path || path->empty()) {
    throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                     "setting 'path' is required (the repository's "
                     "directory)");
  }
  return std::make_shared<faulty_dir::FaultyDirDriver>(*path, ReadFaults(settings));
}

bkp_status Open(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) noexcept {
  return repo::OpenInstance(kIdentity, MakeDriver, args, out, err, err_len);
}

constexpr bkp_provider kProvider = repo::ProviderTable(
    kIdentity, "backups into a directory through its own storage driver, with faults on request",
    kSettings, Open);

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
