// Repository locks through the provider (see repository_locks.h).
#include "backup/repository_locks.h"

#include <array>

#include "backup/backup_runner.h"
#include "plugin_host/abi_status.h"

namespace hoststub {
namespace {

constexpr size_t kErrorBufferSize = 2048;

bkp_status CollectLock(void* user, const bkp_lock_info* given) {
  const bkp_lock_info info = CopyVersioned(given);
  auto text = [](const char* s) { return s != nullptr ? std::string(s) : std::string(); };
  static_cast<std::vector<RepositoryLockInfo>*>(user)->push_back(
      {text(info.id), info.exclusive != 0, text(info.operation), text(info.host), info.pid,
       info.since_ms, info.refreshed_ms, text(info.stale), info.removed != 0});
  return BKP_OK;
}

}  // namespace

Result<std::vector<RepositoryLockInfo>> ProviderRepositoryLocks(const LoadedProvider& provider,
                                                                bool remove_stale) {
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_LOCKS,
                                             "show or remove repository locks"));
  std::vector<RepositoryLockInfo> locks;
  std::array<char, kErrorBufferSize> err{};
  const bkp_status rc =
      provider.table().locks(provider.instance(), remove_stale ? BKP_LOCKS_REMOVE_STALE : 0u,
                             CollectLock, &locks, err.data(), err.size());
  if (rc != BKP_OK) {
    return ProviderFailure(provider.name(), remove_stale ? "unlock" : "locks", rc, err.data(),
                           err.size());
  }
  return locks;
}

}  // namespace hoststub
