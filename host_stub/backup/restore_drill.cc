// Restore drills (see restore_drill.h).
#include "backup/restore_drill.h"

#include <exception>
#include <system_error>

#include <fmt/format.h>

#include "backup/backup_runner.h"
#include "storage/checker.h"

namespace hoststub {
namespace {

using SteadyClock = std::chrono::steady_clock;

std::chrono::milliseconds Since(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start);
}

// Deletes the scratch copy on every way out: a drill must never leave a
// second copy of the data behind (it may hold what retention deleted).
class ScratchDir {
 public:
  explicit ScratchDir(std::filesystem::path path) : path_(std::move(path)) {}
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace

void RunRestoreDrill(const ProviderRef& provider, const std::string& backup_id,
                     const std::filesystem::path& scratch_root, const StorageOptions& options,
                     bkp_operation& op, DrillResult& result) {
  result.backup_id = backup_id;
  result.ok = false;
  try {
    std::error_code ec;
    std::filesystem::create_directories(scratch_root, ec);
    if (ec) {
      result.error = fmt::format(
          "restore drill via provider '{}': cannot create the scratch "
          "directory '{}': {}",
          provider.name, scratch_root.string(), ec.message());
      return;
    }
    // The backup id in the name tells an operator what a leftover (after a
    // crash mid-drill) was; the time keeps two drills apart.
    const ScratchDir scratch(scratch_root /
                             fmt::format("drill-{}-{}", backup_id,
                                         std::chrono::duration_cast<std::chrono::milliseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count()));
    StorageOptions restored = options;
    restored.data_dir = scratch.path();
    const auto restore_start = SteadyClock::now();
    Result<RestoreReport> report =
        RunRestore(provider, backup_id, scratch.path(), RestorePolicy::kSafe, restored, op);
    result.restore_time = Since(restore_start);
    if (!report.ok()) {
      result.error = fmt::format(
          "restore drill of backup '{}' via provider '{}': the restore "
          "failed: {}",
          backup_id, provider.name, report.status().message());
      return;
    }
    result.files = report->files;
    result.bytes = report->bytes;
    // The sink checked the order as it went and the restore checked the
    // result; the drill checks again on its own, so a drill passes only
    // with the checker's word on the copy as it is on disk now.
    const auto check_start = SteadyClock::now();
    const CheckReport check = CheckDataDir(scratch.path());
    result.check_time = Since(check_start);
    if (!check.ok()) {
      result.error = fmt::format(
          "restore drill of backup '{}' via provider '{}': the restored copy fails the "
          "checker with {} violation(s); first: {}",
          backup_id, provider.name, check.violations.size(), check.violations.front());
      return;
    }
    result.ok = true;
  } catch (const std::exception& e) {
    result.error = fmt::format(
        "restore drill of backup '{}' via provider '{}' failed in the "
        "host: {}",
        backup_id, provider.name, e.what());
  }
}

}  // namespace hoststub
