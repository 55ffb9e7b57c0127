// The host's configuration: its schema (which keys each table has, read by
// the strict walker of toml_schema.h), the documented defaults, and loading
// a file with paths resolved next to it.
#include "config/host_config.h"

#include <toml++/toml.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/toml_schema.h"

namespace hoststub {
namespace {

using toml_schema::Boolean;
using toml_schema::ByteSize;
using toml_schema::ErrorAt;
using toml_schema::Field;
using toml_schema::HostNames;
using toml_schema::Integer;
using toml_schema::Key;
using toml_schema::Millis;
using toml_schema::NonEmptyString;
using toml_schema::OneOf;
using toml_schema::PathValue;
using toml_schema::Quoted;
using toml_schema::Reader;
using toml_schema::RenderTable;
using toml_schema::Seconds;
using toml_schema::TableOf;
using toml_schema::TypeName;
using toml_schema::Value;
using toml_schema::WalkTable;

constexpr uint64_t kMinSegmentBytes = 4096;
// A day: an archive_timeout beyond it is a recovery point nobody wants.
constexpr int64_t kMaxArchiveTimeoutSeconds = 86'400;
// Request limits below these would refuse the API's own requests.
constexpr uint64_t kMinBodyBytes = 1024;
constexpr uint64_t kMinHeaderBytes = 1024;
constexpr int64_t kMaxHeaderCount = 10'000;

// Provider names appear in URLs, log prefixes and file names, hence the
// conservative alphabet.
bool IsValidProviderName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
  });
}

Reader ProviderName(ProviderConfig& provider) {
  return [&provider](const Value& v) -> Status {
    const toml::value<std::string>* s = v.node().as_string();
    if (s == nullptr) return v.TypeError("a string");
    if (!IsValidProviderName(s->get())) {
      return v.Error("'" + v.path() + "' must be 1 to 64 characters from A-Z a-z 0-9 _ . -, got " +
                     Quoted(s->get()));
    }
    provider.name = s->get();
    provider.name_line = v.line();
    return Status::OK();
  };
}

// Which keys a provider accepts is the plugin's business and is checked when
// it is loaded; here only what no plugin could accept is refused: a setting
// type outside the ABI's string, integer and boolean.
Reader ProviderSettings(ProviderConfig& provider) {
  return [&provider](const Value& v) -> Status {
    const toml::table* table = v.node().as_table();
    if (table == nullptr) return v.TypeError("a table");
    for (auto&& [key, node] : *table) {
      uint32_t line = key.source().begin.line;
      if (line == 0) line = node.source().begin.line;
      if (!node.is_string() && !node.is_integer() && !node.is_boolean()) {
        return ErrorAt(v.source(), line,
                       "'" + v.path() + "." + std::string(key.str()) +
                           "' must be a string, an integer or a boolean, got " +
                           std::string(TypeName(node)));
      }
      provider.setting_lines[std::string(key.str())] = line;
    }
    provider.settings = *table;
    return Status::OK();
  };
}

// The keys of one [[providers]] entry, bound to `provider`; `*timeout_line`
// gets the line archive_timeout was set on (0 when it was not).
std::vector<Key> ProviderKeys(ProviderConfig& provider, uint32_t* timeout_line) {
  return {
      {"name",
       {ProviderName(provider),
        [&provider] { return std::optional<std::string>(toml_schema::TomlString(provider.name)); }},
       "Unique; 1 to 64 characters from A-Z a-z 0-9 _ . -"},
      {"plugin", NonEmptyString(provider.plugin),
       "The plugin: a bare name N is <plugin_dir>/bkp_N.so. A value with a '/' or\n"
       "ending in \".so\" is a file name, relative to plugin_dir unless absolute."},
      {"archive", Boolean(provider.archive, &provider.archive_line),
       "Continuous archiving: true ships every segment through this provider as it\n"
       "closes, for point-in-time restore (the plugin must be able to archive, e.g.\n"
       "wal_archive; local_disk cannot)."},
      {"archive_timeout",
       Seconds(provider.archive_timeout, kMaxArchiveTimeoutSeconds, timeout_line),
       "With archive = true: seconds after which data not yet archived in a\n"
       "segment that has not closed is shipped anyway, as a partial piece (0 to\n"
       "86400; 0 ships closed segments only). Bounds the recovery point of a quiet\n"
       "host. Only allowed with archive = true (commented out otherwise)."},
  };
}

constexpr std::string_view kSettingsDoc =
    "The provider's own settings (strings, integers, booleans), checked against\n"
    "the list the plugin declares when it is loaded (`hostd plugins -v` shows it).";

// One [[providers]] entry as TOML, its settings table after its own keys.
Result<std::string> RenderProvider(const ProviderConfig& entry, bool comment_defaults) {
  ProviderConfig provider = entry;
  ProviderConfig defaults;
  uint32_t unused = 0;
  std::vector<Key> keys = ProviderKeys(provider, &unused);
  // The baseline decides which keys come out commented: in an example those
  // at their default; otherwise none (a baseline key of another name is no
  // baseline). archive_timeout is refused without archive = true, so then it
  // is always commented (compared with itself).
  std::vector<Key> baseline =
      comment_defaults ? ProviderKeys(defaults, &unused) : std::vector<Key>(keys.size());
  if (!provider.archive) baseline.back() = keys.back();
  HOSTSTUB_ASSIGN_OR_RETURN(std::string body, RenderTable(keys, "providers", &baseline));
  std::string out = "[[providers]]" + body;
  out += "\n[providers.settings]\n" + toml_schema::CommentLines(kSettingsDoc);
  for (auto&& [key, node] : entry.settings) {
    out += toml_schema::TomlKey(key.str()) + " = " + toml_schema::TomlScalar(node) + "\n";
  }
  return out;
}

// [[providers]]: each entry read like any table, then checked as a whole
// (required keys, a name used once); rendered one entry after another.
Field Providers(std::vector<ProviderConfig>& out) {
  Field field;
  field.read = [&out](const Value& v) -> Status {
    const toml::array* array = v.node().as_array();
    if (array == nullptr || (!array->empty() && !array->is_array_of_tables())) {
      return v.TypeError("an array of tables ([[providers]])");
    }
    for (const toml::node& element : *array) {
      const toml::table& entry = *element.as_table();
      ProviderConfig provider;
      provider.source = std::string(v.source());
      provider.line = entry.source().begin.line != 0 ? entry.source().begin.line : v.line();
      uint32_t timeout_line = 0;
      std::vector<Key> keys = ProviderKeys(provider, &timeout_line);
      keys.push_back({"settings", ProviderSettings(provider)});
      HOSTSTUB_RETURN_IF_ERROR(WalkTable(entry, v.path(), v.source(), keys, "[[providers]]"));
      if (provider.name.empty()) {
        return ErrorAt(v.source(), provider.line,
                       "a [[providers]] entry has no 'name' (each provider needs a unique name "
                       "and a plugin)");
      }
      if (provider.plugin.empty()) {
        return ErrorAt(v.source(), provider.line,
                       "provider '" + provider.name +
                           "' has no 'plugin' (e.g. plugin = \"local_disk\" for "
                           "<plugin_dir>/bkp_local_disk.so)");
      }
      if (timeout_line != 0 && !provider.archive) {
        return ErrorAt(v.source(), timeout_line,
                       "provider '" + provider.name +
                           "': 'archive_timeout' applies to continuous archiving only; set "
                           "archive = true, or remove archive_timeout");
      }
      for (const ProviderConfig& earlier : out) {
        if (earlier.name == provider.name) {
          return ErrorAt(v.source(), provider.name_line,
                         "provider name '" + provider.name + "' is already used at line " +
                             std::to_string(earlier.name_line));
        }
      }
      out.push_back(std::move(provider));
    }
    return Status::OK();
  };
  field.render = [&out](const std::string&, bool comment_defaults) -> std::string {
    if (out.empty()) return "# (none configured)\n";
    std::string text;
    for (const ProviderConfig& provider : out) {
      Result<std::string> entry = RenderProvider(provider, comment_defaults);
      // Every provider key has a Writer and a doc (the config tests render
      // them all), so this cannot fail; were it to, the entry says so rather
      // than vanish.
      text += entry.ok() ? *entry : "# cannot render: " + entry.status().message() + "\n";
      if (&provider != &out.back()) text += "\n";
    }
    return text;
  };
  return field;
}

// The whole schema, bound to `config`: reading fills it, rendering writes it
// back. To add a key, add one entry (with its doc) to the table it belongs in.
std::vector<Key> HostConfigSchema(HostConfig& config) {
  StorageOptions& storage = config.storage;
  ServerOptions& server = config.server;
  constexpr int64_t kNoMax = std::numeric_limits<int64_t>::max();
  std::vector<Key> storage_keys = {
      {"data_dir", PathValue(storage.data_dir),
       "Root of the data directory: control.db and contexts/<name>/{log,events,snapshots}.\n"
       "A relative path is relative to the directory hostd is started in."},
      {"event_segment_size", ByteSize(storage.event_segment_bytes, kMinSegmentBytes),
       "An event (or snapshot) segment is closed and a new one started once the next\n"
       "record would take it past this size. At least 4096 bytes."},
      {"log_segment_size", ByteSize(storage.log_segment_bytes, kMinSegmentBytes),
       "The same for log entry segments. At least 4096 bytes."},
      {"fsync",
       OneOf(storage.fsync, {{"batch", FsyncPolicy::kBatch},
                             {"interval", FsyncPolicy::kInterval},
                             {"never", FsyncPolicy::kNever}}),
       "When appended data reaches stable storage before the append is acknowledged:\n"
       "  \"batch\"    every acknowledged batch is on disk; concurrent batches to a\n"
       "             context share one fsync (the safe choice);\n"
       "  \"interval\" fsync every fsync_interval_ms; a crash may lose the last\n"
       "             interval of acknowledged writes;\n"
       "  \"never\"    leave write-back to the OS (benchmarks and tests only)."},
      {"fsync_interval_ms", Millis(storage.fsync_interval, 1),
       "Period of the background fsync when fsync = \"interval\". Greater than 0."},
      {"commit_index_interval_ms", Millis(storage.commit_index_interval, 1),
       "How often each context's commit index is written to the control DB (it is\n"
       "also written on clean close). Greater than 0."},
      {"log_retention_entries", Integer(storage.log_retention_entries, 0, kNoMax),
       "Log compaction keeps this many entries below the commit index; segments\n"
       "wholly below (commit index - retention) may be deleted."},
      {"compaction_interval_ms", Millis(storage.compaction_interval, 0),
       "Period of background log compaction; 0 turns it off (compaction then runs\n"
       "only when asked)."},
      {"recovery_verify_closed_segments",
       Integer(storage.recovery_verify_closed_segments, 0, std::numeric_limits<uint32_t>::max()),
       "On open, how many of the newest closed segments per stream have their\n"
       "checksums verified; older ones only have their header checked. 0 means all."},
  };
  std::vector<Key> server_keys = {
      {"listen", NonEmptyString(server.listen_address),
       "Address the admin HTTP API binds to. Any address but a loopback one needs\n"
       "both TLS (tls_cert, tls_key) and tokens (auth_tokens_file), else hostd\n"
       "refuses to start."},
      {"port", Integer(server.port, 0, std::numeric_limits<uint16_t>::max()),
       "TCP port of the admin API, 0 to 65535; 0 picks a free one (see\n"
       "hostd serve --port-file)."},
      {"auth_tokens_file", PathValue(server.auth_tokens_file),
       "Bearer tokens the API accepts (`hostd token create` adds one): each line\n"
       "NAME ROLE HASH, roles read, write and admin. The file must not be readable\n"
       "by group or others. A relative path is relative to this file's directory.\n"
       "Unset: no authentication (loopback only).",
       "\"/etc/hostd/tokens\""},
      {"tls_cert", PathValue(server.tls_cert),
       "PEM certificate (chain); with tls_key as well, the API speaks HTTPS only.\n"
       "Relative as for auth_tokens_file. Unset: plain HTTP (loopback only).",
       "\"/etc/hostd/cert.pem\""},
      {"tls_key", PathValue(server.tls_key), "PEM private key of tls_cert.",
       "\"/etc/hostd/key.pem\""},
      {"allowed_hosts", HostNames(server.allowed_hosts),
       "Names a request's Host and Origin may carry besides the listen address,\n"
       "localhost and the loopback addresses (e.g. the server's DNS name)."},
      {"max_body_size", ByteSize(server.max_body_bytes, kMinBodyBytes),
       "A request body above this is refused (413) before it is read."},
      {"max_header_count", Integer(server.max_header_count, 8, kMaxHeaderCount),
       "At most this many header lines (8 to 10000), else 431."},
      {"max_header_size", ByteSize(server.max_header_bytes, kMinHeaderBytes),
       "At most this many bytes of request line and headers together, else 431."},
      {"header_timeout_ms", Millis(server.header_timeout, 100),
       "The request line and headers must arrive within this many milliseconds\n"
       "(408 otherwise); at least 100."},
      {"body_timeout_ms", Millis(server.body_timeout, 100),
       "The whole request body must arrive within this many milliseconds of the\n"
       "headers (408 otherwise), however steadily it trickles; at least 100."},
      {"max_connections_per_client", Integer(server.max_connections_per_client, 1, 1024),
       "Connections one client address may hold open at once (1 to 1024); one more\n"
       "is answered 429."},
  };
  std::vector<Key> log_keys = {
      {"level",
       OneOf(config.log.level, {{"debug", LogLevel::kDebug},
                                {"info", LogLevel::kInfo},
                                {"warn", LogLevel::kWarn},
                                {"error", LogLevel::kError}}),
       "Lines below this level are not written: \"debug\", \"info\", \"warn\", \"error\".\n"
       "`hostd --log-level LEVEL` overrides it. Each line carries an ISO-8601 UTC\n"
       "timestamp and its level; every line goes to stderr (the journal, under\n"
       "systemd)."},
      {"format", OneOf(config.log.format, {{"text", LogFormat::kText}, {"json", LogFormat::kJson}}),
       "\"text\": one readable line each; \"json\": one JSON object per line, with\n"
       "the keys time, level, program, provider (a provider's own lines) and msg."},
  };
  std::vector<Key> backup_keys = {
      {"pacing",
       OneOf(config.backup.pacing, {{"auto", BackupPacing::kAuto}, {"off", BackupPacing::kOff}}),
       "How a hot backup shares the machine with appends and reads:\n"
       "  \"auto\" the backup's threads run in the CPU and I/O idle classes\n"
       "         (SCHED_IDLE, ioprio idle): they get what the host leaves over,\n"
       "         so appends keep their pace, and an idle machine runs the backup\n"
       "         at full speed; they also yield to every other process here;\n"
       "  \"off\"  the backup competes with the host's threads as an equal\n"
       "         (the default).\n"
       "A provider's rate_limit setting caps the backup's reads in both modes."},
  };
  return {
      {"plugin_dir", PathValue(config.plugin_dir),
       "Directory the backup provider plugins (bkp_<name>.so) are loaded from. A\n"
       "relative path is relative to the directory of this file (for the built-in\n"
       "defaults: the current directory). A leading $EXE_DIR stands for the\n"
       "directory of the hostd binary: the default finds the plugins of an\n"
       "installed hostd (<prefix>/lib/hostd/plugins) and of a build tree,\n"
       "wherever either is started from."},
      {"storage", TableOf(std::move(storage_keys))},
      {"server", TableOf(std::move(server_keys))},
      {"log", TableOf(std::move(log_keys))},
      {"backup", TableOf(std::move(backup_keys))},
      {"providers", Providers(config.providers),
       "Backup providers: one [[providers]] entry each, loaded and opened when hostd\n"
       "starts; one that fails to load or open stops hostd. `hostd plugins` shows\n"
       "what each would load."},
      {"schedules", Schedules(config.schedules),
       "What hostd serve runs by itself: one [[schedules]] entry each, a backup\n"
       "(full or incremental) or a restore drill through one provider, every\n"
       "period or on a five-field cron expression (UTC), with an optional jitter,\n"
       "and after each scheduled backup its keep_* retention. See\n"
       "docs/operations.md, \"Scheduling\"."},
  };
}

Status ReadConfig(const toml::table& root, std::string_view source, HostConfig& config) {
  HOSTSTUB_RETURN_IF_ERROR(WalkTable(root, "", source, HostConfigSchema(config)));
  // The providers may be written after the schedules that name them.
  std::vector<std::string> provider_names;
  for (const ProviderConfig& p : config.providers) provider_names.push_back(p.name);
  return CheckScheduleProviders(config.schedules, provider_names);
}

constexpr std::string_view kConfigHeader =
    "hostd configuration. Every key is optional; an unknown key or table, or a\n"
    "value of the wrong type or out of range, stops hostd with the file, line\n"
    "and key at fault. An empty file is refused (leave out --config for the\n"
    "built-in defaults).\n"
    "\n"
    "Sizes are an integer number of bytes or a string with a binary unit:\n"
    "\"4096B\", \"512KiB\", \"64MiB\", \"1GiB\".";

// The built-in defaults as a HostConfig, paths as written ($EXE_DIR not yet
// expanded): the struct defaults and one provider, local_disk into ./backups.
HostConfig BuiltInDefaults() {
  HostConfig config;
  ProviderConfig local;
  local.name = "local";
  local.plugin = "local_disk";
  local.settings.insert("path", "./backups");
  config.providers.push_back(std::move(local));
  return config;
}

}  // namespace

namespace {

// "$EXE_DIR/x" -> "<directory of the running binary>/x".
std::filesystem::path ExpandExeDir(const std::filesystem::path& path) {
  constexpr std::string_view kToken = "$EXE_DIR";
  const std::string text = path.string();
  // The token only as a whole first component: "$EXE_DIR" or "$EXE_DIR/...".
  if (text.rfind(kToken, 0) != 0 || (text.size() > kToken.size() && text[kToken.size()] != '/')) {
    return path;
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return path;  // left as written: a plugin-not-found error then shows it
  const std::string rest = text.substr(std::min(text.size(), kToken.size() + 1));
  return rest.empty() ? exe.parent_path() : (exe.parent_path() / rest).lexically_normal();
}

}  // namespace

std::string_view DefaultHostConfigToml() {
  // Generated from the schema, once: the reference text and the struct
  // defaults cannot drift apart.
  static const std::string text = [] {
    HostConfig defaults = BuiltInDefaults();
    defaults.source = "the built-in defaults";
    Result<std::string> rendered = RenderHostConfig(defaults, RenderStyle::kEffective);
    return rendered.ok() ? *rendered : "# " + rendered.status().message() + "\n";
  }();
  return text;
}

Result<HostConfig> ParseHostConfig(std::string_view toml_text, std::string_view source_name,
                                   PathResolution paths) {
  // Callers get a Status whatever happens in here, std::bad_alloc included.
  try {
    toml::table root;
    HOSTSTUB_RETURN_IF_ERROR(toml_schema::ParseToml(toml_text, source_name, &root));
    HostConfig config;
    config.source = std::string(source_name);
    HOSTSTUB_RETURN_IF_ERROR(ReadConfig(root, source_name, config));
    if (paths == PathResolution::kResolve) config.plugin_dir = ExpandExeDir(config.plugin_dir);
    return config;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string(source_name) + ": " + e.what());
  }
}

Result<std::string> RenderHostConfig(const HostConfig& config, RenderStyle style) {
  try {
    HostConfig copy = config;
    HostConfig defaults;
    const std::vector<Key> keys = HostConfigSchema(copy);
    const std::vector<Key> baseline = HostConfigSchema(defaults);
    HOSTSTUB_ASSIGN_OR_RETURN(
        std::string body,
        RenderTable(keys, "", style == RenderStyle::kExample ? &baseline : nullptr));
    std::string header(kConfigHeader);
    if (style == RenderStyle::kExample) {
      header +=
          "\n\nA key written commented out is at its built-in default; remove the '#'\n"
          "to change it. `hostd config show --config FILE` prints the configuration\n"
          "hostd would run with, every key filled in.";
    } else {
      header += "\n\nThe configuration of " + config.source +
                " as hostd runs it, every key filled in\n(`hostd config show`).";
    }
    return toml_schema::CommentLines(header) + body;
  } catch (const std::exception& e) {
    return Status::InvalidArgument(std::string("cannot render the configuration: ") + e.what());
  }
}

uint32_t ProviderConfig::SettingLine(std::string_view key) const {
  auto it = setting_lines.find(key);
  return it != setting_lines.end() ? it->second : line;
}

std::filesystem::path ResolvePluginFile(const std::filesystem::path& plugin_dir,
                                        std::string_view plugin) {
  bool is_file_name = plugin.find('/') != std::string_view::npos ||
                      (plugin.size() >= 3 && plugin.substr(plugin.size() - 3) == ".so");
  if (!is_file_name) return plugin_dir / ("bkp_" + std::string(plugin) + ".so");
  std::filesystem::path file(plugin);
  return file.is_absolute() ? file : plugin_dir / file;
}

Result<HostConfig> LoadHostConfigOrDefaults(const std::filesystem::path& file,
                                            PathResolution paths) {
  if (file.empty()) return ParseHostConfig(DefaultHostConfigToml(), "<built-in defaults>", paths);
  return LoadHostConfig(file, paths);
}

namespace {

// Whether TOML `text` has a line that is neither blank nor a comment.
bool HasSettings(std::string_view text) {
  size_t at = 0;
  while (at < text.size()) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const size_t first = text.find_first_not_of(" \t\r", at);
    if (first < end && text[first] != '#') return true;
    at = end + 1;
  }
  return false;
}

}  // namespace

Result<HostConfig> LoadHostConfig(const std::filesystem::path& file, PathResolution paths) {
  std::string text;
  int error = 0;
  try {
    // stdio rather than iostreams: it reports *why* a read failed via errno.
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(file.c_str(), "rb"), &std::fclose);
    if (f == nullptr) {
      error = errno;
    } else {
      char buf[65536];
      size_t n;
      errno = 0;
      while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
      if (std::ferror(f.get())) error = errno != 0 ? errno : EIO;
    }
  } catch (const std::exception& e) {
    return Status::IOError("cannot read config file '" + file.string() + "': " + e.what());
  }
  if (error != 0) {
    std::string msg = "cannot read config file '" + file.string() + "': " + std::strerror(error);
    if (error == ENOENT) return Status::NotFound(std::move(msg));
    return Status::IOError(std::move(msg));
  }
  // An empty file (or one of comments only) is most likely a config that
  // was truncated or never written: running on built-in defaults would put
  // the data and the backups somewhere else than the operator expects.
  if (!HasSettings(text)) {
    return Status::InvalidArgument("config file '" + file.string() +
                                   "' is empty: it sets nothing (not even [storage] data_dir); "
                                   "write its settings, or leave out --config for the built-in "
                                   "defaults");
  }
  Result<HostConfig> config = ParseHostConfig(text, file.string(), paths);
  if (config.ok() && paths == PathResolution::kResolve) {
    // The operator wrote the paths next to the file, not next to wherever
    // hostd happens to be started from.
    std::error_code ec;
    const std::filesystem::path dir = std::filesystem::absolute(file, ec).parent_path();
    for (std::filesystem::path* path : {&config->plugin_dir, &config->server.auth_tokens_file,
                                        &config->server.tls_cert, &config->server.tls_key}) {
      if (!ec && !path->empty() && path->is_relative()) *path = (dir / *path).lexically_normal();
    }
  }
  return config;
}

}  // namespace hoststub
