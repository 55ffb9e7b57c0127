// The host's log: every diagnostic line hostd writes goes through here, so
// each carries an ISO-8601 UTC timestamp and a level, is filtered by one
// threshold, and comes out either as text or as one JSON object per line
// (for journald, Loki, Elasticsearch and the like).
//
//   text: 2026-12-07T11:44:47.123Z INFO  hostd: listening on http://127.0.0.1:8124
//         2026-12-07T11:44:48.001Z WARN  hostd: [nightly] retrying upload
//   json: {"time":"2026-12-07T11:44:47.123Z","level":"info","program":"hostd",
//          "msg":"listening on http://127.0.0.1:8124"}
//         (one line; a provider's line adds "provider":"nightly")
//
// Lines go to stderr, one write each, so lines from different threads never
// interleave. A command's *result* (a table, a backup id, JSON asked for
// with --json) is not a log line: it goes to stdout as before.
//
// Thread-safety: every function may be called from any thread; ConfigureLog
// takes effect for lines started after it returns (SIGHUP reloads use it).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace hoststub {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class LogFormat { kText, kJson };

// "DEBUG", "INFO", "WARN", "ERROR".
std::string_view LogLevelName(LogLevel level);
// "debug", "info", "warn" (or "warning"), "error", case-insensitive;
// nullopt for anything else.
std::optional<LogLevel> ParseLogLevel(std::string_view text);
// "text", "json"; nullopt for anything else.
std::optional<LogFormat> ParseLogFormat(std::string_view text);

struct LogOptions {
  // Lines below this level are dropped. Default INFO.
  LogLevel level = LogLevel::kInfo;
  LogFormat format = LogFormat::kText;
  // Names the writer in each line ("hostd"); empty leaves it out.
  std::string program;
};

// Replaces the process's log options. Until the first call: INFO, text, no
// program name.
void ConfigureLog(const LogOptions& options);
LogOptions CurrentLogOptions();
// Whether a line at `level` would be written (to skip building one).
bool LogEnabled(LogLevel level);

// Writes one line (a message with newlines is kept on one line: they are
// escaped). `provider` names the backup provider a line comes from, if any.
void Log(LogLevel level, std::string_view message, std::string_view provider = {});
inline void LogDebug(std::string_view message) { Log(LogLevel::kDebug, message); }
inline void LogInfo(std::string_view message) { Log(LogLevel::kInfo, message); }
inline void LogWarn(std::string_view message) { Log(LogLevel::kWarn, message); }
inline void LogError(std::string_view message) { Log(LogLevel::kError, message); }

// The line Log writes, newline included, without writing it (for tests and
// for callers that need the text).
std::string FormatLogLine(std::chrono::system_clock::time_point time, LogLevel level,
                          std::string_view message, std::string_view provider,
                          const LogOptions& options);

}  // namespace hoststub
