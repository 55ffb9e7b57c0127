// Checks a provider's [providers.settings] table against the settings its
// plugin declares (bkp_setting_spec), before open() ever sees it: an unknown
// key, a value of the wrong type or a missing required setting is a config
// error naming the file and line, the provider and the key, so the plugin
// only ever receives settings it said it understands.
//
// Likewise `archive = true` on a provider whose plugin cannot archive.
//
// A SECRET setting's value never appears in a message.
//
// Thread-safety: a pure function.
#pragma once

#include "bkp/bkp_plugin.h"
#include "config/host_config.h"
#include "util/status.h"

namespace hoststub {

// InvalidArgument on the first problem, in the order the file lists the
// keys (missing required settings last), e.g.
//   host.toml:14: provider 'nightly': unknown setting 'pathh' (local_disk
//   accepts: path, workers)
// `table` must have passed PluginLibrary's checks (keys non-NULL, types known).
Status ValidateProviderSettings(const ProviderConfig& provider, const bkp_provider& table);

// InvalidArgument when the entry sets archive = true and the plugin does not
// announce BKP_CAP_ARCHIVE, e.g.
//   host.toml:9: provider 'nightly': 'archive = true' but plugin local_disk
//   cannot archive (its capabilities are backup, ...); ...
Status ValidateArchiveSwitch(const ProviderConfig& provider, const bkp_provider& table);

}  // namespace hoststub
