// The locks on a provider's repository, through the optional locks callback
// (BKP_CAP_LOCKS, ABI 1.2): listing them, and removing the stale ones a
// crash left behind (`hostd backup locks|unlock`). The provider owns what a
// lock is and when it is stale; the host only shows and asks.
//
// Errors: Unsupported when the provider lacks the capability (an older
// plugin); the provider's failure otherwise, naming it.
// Thread-safety: the caller owns the instance (one call at a time); the
// call is safe beside operations of other processes on the repository.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "plugin_host/provider_registry.h"
#include "util/status.h"

namespace hoststub {

struct RepositoryLockInfo {
  std::string id;
  bool exclusive = false;
  std::string operation;  // empty when the lock cannot be read
  std::string host;
  int64_t pid = 0;
  int64_t since_ms = 0;
  int64_t refreshed_ms = 0;
  std::string stale;  // why it is stale; empty when live
  bool removed = false;
};

// Every lock on the provider's repository; with `remove_stale`, each stale
// one is removed (removed = true), never a live one.
Result<std::vector<RepositoryLockInfo>> ProviderRepositoryLocks(const LoadedProvider& provider,
                                                                bool remove_stale);

}  // namespace hoststub
