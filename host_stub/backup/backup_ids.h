// How an operator may name a backup: its full id, `latest` (the newest
// complete backup), or any prefix of an id that no other id shares, as git
// takes commit ids. Every place that takes a backup id (restore, verify,
// delete, through hostd or the admin API) resolves it here against the
// provider's listing.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "plugin_host/provider_calls.h"
#include "util/status.h"

namespace hoststub {

// The id `spec` names among `backups` (oldest first). An exact id wins over
// a prefix. NotFound when nothing matches ("latest" with no backup
// included); InvalidArgument for an ambiguous prefix, listing the
// candidates. `provider` names the provider in the messages.
Result<std::string> ResolveBackupId(const std::vector<BackupListing>& backups,
                                    std::string_view spec, std::string_view provider);

// ResolveBackupId against the provider's own listing. A provider that
// cannot list gets `spec` back unchanged (it can only be a full id then),
// and so does a spec no id matches: the provider's call then fails with
// its own not-found.
// The caller holds the provider (one call at a time per instance).
Result<std::string> ResolveProviderBackupId(const LoadedProvider& provider, std::string_view spec);

}  // namespace hoststub
