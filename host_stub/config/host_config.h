// HostConfig: the host's configuration file (TOML), parsed strictly. Every
// unknown key, wrong type or out-of-range value is an error naming the file,
// the line and the key, so a typo never silently falls back to a default.
//
// Thread-safety: pure functions; HostConfig is a plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <toml++/toml.h>

#include "config/schedule_config.h"
#include "storage/options.h"
#include "util/log.h"
#include "util/status.h"

namespace hoststub {

struct ServerOptions {
  // Address the admin HTTP API binds to. Loopback by default. Any other
  // address is refused at start unless TLS and tokens are both configured.
  std::string listen_address = "127.0.0.1";
  // TCP port; 0 picks a free one (see hostd serve --port-file). Default 8124.
  uint16_t port = 8124;

  // `auth_tokens_file`: the bearer tokens the API accepts, one per line as
  // `NAME ROLE HASH` (see api/auth_tokens.h; `hostd token create` writes
  // them). Empty (the default): no authentication, loopback only. A relative
  // path is relative to the config file's directory.
  std::filesystem::path auth_tokens_file{};
  // `tls_cert`, `tls_key`: PEM files; with both set the API speaks HTTPS
  // only. Empty (the default): plain HTTP, loopback only. Relative paths as
  // for auth_tokens_file.
  std::filesystem::path tls_cert{};
  std::filesystem::path tls_key{};
  // `allowed_hosts`: names besides the listen address, "localhost" and the
  // loopback addresses that a request's Host (and Origin) may carry, e.g.
  // the server's DNS name. Anything else is refused (DNS rebinding).
  std::vector<std::string> allowed_hosts{};

  // Request limits, each answered with a JSON error and the connection
  // closed. `max_body_size`: a larger Content-Length is 413 before any of
  // the body is read (an append's JSON takes up to ~40 times its size in
  // memory while parsed). Default 8 MiB.
  uint64_t max_body_bytes = uint64_t{8} << 20;
  // `max_header_count`, `max_header_size`: more header lines, or a request
  // line plus headers larger than this, is 431. Defaults 64 and 16 KiB.
  uint32_t max_header_count = 64;
  uint64_t max_header_bytes = uint64_t{16} << 10;
  // `header_timeout_ms`: the whole request line and header must arrive
  // within this time of the connection opening (or, on a kept-alive
  // connection, of its first byte), else 408. Default 10 s.
  std::chrono::milliseconds header_timeout{10'000};
  // `body_timeout_ms`: the whole body must arrive within this time of the
  // end of the headers, else 408 (each read also has its own 5 s timeout,
  // which a client trickling a byte at a time never trips). Default 30 s.
  std::chrono::milliseconds body_timeout{30'000};
  // `max_connections_per_client`: connections one client address may hold
  // open at once; one more is answered 429 and closed. The server keeps at
  // least twice this many workers, so one client cannot hold them all.
  // Default 8.
  uint32_t max_connections_per_client = 8;
};

// One [[providers]] entry: a named backup provider, the plugin that
// implements it and the settings handed to it. The settings are checked
// against the plugin's own list only when the plugin is loaded (see
// plugin_host/settings_validation.h), so the entry remembers where each key
// was written for the messages that check produces.
struct ProviderConfig {
  // Unique among the providers; 1 to 64 of [A-Za-z0-9_.-]. Operators and the
  // admin API refer to the provider by it.
  std::string name;
  // Which plugin: a bare name N means <plugin_dir>/bkp_N.so; a value with a
  // '/' or ending in ".so" is a file name, relative to plugin_dir unless
  // absolute. See ResolvePluginFile.
  std::string plugin;
  // The [providers.settings] table, values already known to be strings,
  // integers or booleans. toml++ does not copy source positions, hence the
  // lines below.
  toml::table settings;

  // `archive = true`: while hostd serves, every log, event and snapshot
  // segment is shipped through the provider's archive callback as it closes
  // (continuous archiving). The plugin must announce BKP_CAP_ARCHIVE; that is
  // checked when it is loaded (see plugin_host/settings_validation.h).
  bool archive = false;
  // `archive_timeout` (seconds, 0 to 86400; needs archive = true): the
  // tail of an active segment that has held data not yet archived for this
  // long is shipped as a partial piece, so the recovery point stays bounded
  // on a quiet host. 0 ships closed segments only. Default 60.
  std::chrono::seconds archive_timeout{60};

  // Where the entry came from: the config's source name, the line of its
  // [[providers]] header and of its `name` key, and the line of each setting.
  std::string source;
  uint32_t line = 0;
  uint32_t name_line = 0;
  uint32_t archive_line = 0;  // 0 when `archive` is not written
  std::map<std::string, uint32_t, std::less<>> setting_lines;

  // The line of setting `key`, or of the entry when the key is not there.
  uint32_t SettingLine(std::string_view key) const;
};

// [backup] `pacing`: how a hot backup shares the machine with the host's
// own work (see backup/coordinator.h).
//   kAuto: the backup's threads (and every thread a provider starts from
//          them) run in the CPU and I/O idle classes, so appends and reads
//          always come first, and an idle host lends the backup everything;
//   kOff:  the backup's threads compete with the host's as equals.
// A provider's own `rate_limit` caps a backup's read rate in both modes.
enum class BackupPacing { kAuto, kOff };

struct BackupOptions {
  // Off by default until its effect is measured on a quiet machine (issue 23
  // §1), and because an idle-class thread yields to every process here: a
  // backup on a machine kept busy by other work could take far longer.
  BackupPacing pacing = BackupPacing::kOff;
};

struct HostConfig {
  StorageOptions storage;
  ServerOptions server;
  BackupOptions backup;
  // Where provider plugins are loaded from. LoadHostConfig makes a relative
  // path relative to the config file's directory; ParseHostConfig leaves it
  // relative to the current directory. The default, beside the binary, is
  // both where `cmake --install` (and the Debian package) put the providers,
  // <prefix>/bin/hostd -> <prefix>/lib/hostd/plugins, and where a build
  // tree has them (a link build/lib/hostd/plugins, plugins/CMakeLists.txt).
  std::filesystem::path plugin_dir = "$EXE_DIR/../lib/hostd/plugins";
  // The [[providers]] entries, in file order; names are unique.
  std::vector<ProviderConfig> providers;
  // The [[schedules]] entries, in file order; names are unique and each
  // names one of the providers.
  std::vector<ScheduleConfig> schedules;
  // [log]: `level` and `format` (the program name is the binary's to set).
  LogOptions log;
  // Where the config came from ("<built-in defaults>" or a file path), for
  // messages.
  std::string source = "<built-in defaults>";
};

// The configuration hostd uses when no --config is given, as TOML text with
// every key documented: rendered from the schema (RenderHostConfig) and
// parsed by the same code as a file, so it is always a valid example.
std::string_view DefaultHostConfigToml();

// kResolve (what hostd runs with): a leading $EXE_DIR in plugin_dir is
// expanded and, for a file, relative paths are made relative to its
// directory. kAsWritten keeps them as the text has them (an example config
// is generated from that).
enum class PathResolution { kResolve, kAsWritten };

// Parses TOML text. `source_name` names it in error messages.
Result<HostConfig> ParseHostConfig(std::string_view toml_text, std::string_view source_name,
                                   PathResolution paths = PathResolution::kResolve);

// Reads and parses a config file; a missing or unreadable file is an error.
// A relative plugin_dir is resolved against the file's directory.
Result<HostConfig> LoadHostConfig(const std::filesystem::path& file,
                                  PathResolution paths = PathResolution::kResolve);

// LoadHostConfig(file), or the built-in defaults when `file` is empty: what
// every hostd subcommand with a --config option does.
Result<HostConfig> LoadHostConfigOrDefaults(const std::filesystem::path& file,
                                            PathResolution paths = PathResolution::kResolve);

// `config` as TOML, every key of the schema with its documentation as
// comments, so the text is the full reference and parses back to the same
// configuration. kEffective writes every value; kExample writes those at
// their built-in default commented out (the installed example config).
// Fails (Unsupported) only if a schema key lacks a Writer or a doc.
enum class RenderStyle { kEffective, kExample };
Result<std::string> RenderHostConfig(const HostConfig& config, RenderStyle style);

// The plugin file a provider's `plugin` value names (see ProviderConfig).
std::filesystem::path ResolvePluginFile(const std::filesystem::path& plugin_dir,
                                        std::string_view plugin);

}  // namespace hoststub
