// PluginLibrary: one provider plugin file, loaded and vetted before any of its
// callbacks may run. Loading binds every symbol at once (RTLD_NOW, local), so
// a missing dependency fails here rather than mid-backup; the entry point is
// asked for the host's ABI version; the provider table it returns is copied
// into a zero-filled bkp_provider reading no more than the plugin declared,
// then checked against the ABI's rules (required callbacks, capability
// promises, reserved fields, the settings list).
//
// Ownership: the boost::dll::shared_library lives behind a shared_ptr. The
// copied table's function pointers and strings point into the library, so
// whatever keeps them (LoadedProvider, an instance's closer) keeps a copy of
// that shared_ptr: the library is unloaded only after the last one is gone.
//
// Thread-safety: Load is serialised by a process-wide mutex (dlopen and the
// entry call). A PluginLibrary is immutable after Load and may be shared and
// copied between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/dll/shared_library.hpp>

#include "bkp/bkp_plugin.h"
#include "util/status.h"

namespace hoststub {

// Bytes of a v1.0 provider table: everything up to and including `expire`.
// A table declaring less cannot be a v1.x table.
inline constexpr size_t kProviderTableV1_0Size = offsetof(bkp_provider, expire) + sizeof(void*);
// Bytes of a v1.0 bkp_setting_spec, and a sanity bound on how many a plugin
// may declare.
inline constexpr size_t kSettingSpecV1_0Size =
    offsetof(bkp_setting_spec, description) + sizeof(void*);
inline constexpr uint32_t kMaxSettings = 1024;

class PluginLibrary {
 public:
  // Loads `file`, negotiates and checks its table. Every error message starts
  // with the file's path. Codes: NotFound when the file does not exist;
  // Unsupported when it is not a loadable shared object, has no entry
  // symbol, refuses the host's ABI, answers with another major version or a
  // table too small for it, or breaks a rule of the table.
  static Result<PluginLibrary> Load(const std::filesystem::path& file);

  // Absolute path of the file loaded.
  const std::filesystem::path& path() const { return path_; }
  // The defensive copy. Fields beyond what the plugin declared are zero;
  // struct_size is the number of bytes actually copied. `settings` points at
  // the host's own copy of the array (stride sizeof(bkp_setting_spec)),
  // shared by copies of this object.
  const bkp_provider& table() const { return table_; }
  // What the plugin's own table said: its struct_size and ABI version.
  uint32_t plugin_struct_size() const { return plugin_struct_size_; }
  uint32_t plugin_abi_version() const { return table_.abi_version; }
  // The version both sides speak: the host's major, the lower minor.
  uint32_t negotiated_version() const { return negotiated_version_; }
  // The table's name and version, "" when the plugin left them NULL.
  std::string provider_name() const;
  std::string provider_version() const;
  // Shares ownership of the loaded library: it stays loaded while this lives.
  const std::shared_ptr<boost::dll::shared_library>& library() const { return library_; }

 private:
  PluginLibrary() = default;
  static Result<PluginLibrary> LoadOrThrow(const std::filesystem::path& file);
  static Status CopySettings(const std::filesystem::path& file, const bkp_provider& theirs,
                             PluginLibrary* plugin);

  std::filesystem::path path_;
  std::shared_ptr<boost::dll::shared_library> library_;
  bkp_provider table_{};
  std::shared_ptr<const std::vector<bkp_setting_spec>> settings_;
  uint32_t plugin_struct_size_ = 0;
  uint32_t negotiated_version_ = 0;
};

// "1.0" for BKP_MAKE_VERSION(1, 0).
std::string FormatAbiVersion(uint32_t version);

// "backup, restore, list" for the known BKP_CAP_* bits, in bit order; "none"
// when there are none. Bits this host does not know are left out: a newer
// minor may add capabilities an older host simply does not use.
std::string DescribeCapabilities(uint64_t capabilities);
// The names of the capabilities set, in that order ("backup", ...,
// "archive", "point-in-time"); unknown bits are left out.
std::vector<std::string> CapabilityNames(uint64_t capabilities);

// "string", "integer", "boolean" for BKP_SETTING_*, or "unknown type N".
std::string SettingTypeName(uint32_t type);

}  // namespace hoststub
