// The process-wide log: options under a mutex, one fwrite per line.
#include "util/log.h"

#include <cctype>
#include <cstdio>
#include <mutex>

#include <fmt/format.h>

#include "util/utc_time.h"

namespace hoststub {
namespace {

std::mutex& OptionsMutex() {
  static std::mutex mu;
  return mu;
}

LogOptions& Options() {
  static LogOptions options;
  return options;
}

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

// JSON string body: quotes, backslashes and control characters escaped.
// Bytes >= 0x80 pass through (messages are UTF-8 or paths taken as they are).
void AppendJsonEscaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
}

// Text lines stay one line each: a reader (or grep) must never take the
// second half of a message for a line without a timestamp.
void AppendOneLine(std::string& out, std::string_view text) {
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
}

std::string_view LowerLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kError:
      return "error";
  }
  return "error";
}

// A line's time stamp: UTC to the millisecond, through the host's one
// formatter.
std::string LineTime(std::chrono::system_clock::time_point time) {
  return FormatUtc(
      std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count(),
      UtcFormat::kIso8601Millis);
}

}  // namespace

std::string_view LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "DEBUG";
    case LogLevel::kInfo:
      return "INFO";
    case LogLevel::kWarn:
      return "WARN";
    case LogLevel::kError:
      return "ERROR";
  }
  return "ERROR";
}

std::optional<LogLevel> ParseLogLevel(std::string_view text) {
  for (LogLevel level : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError}) {
    if (EqualsIgnoringCase(text, LogLevelName(level))) return level;
  }
  if (EqualsIgnoringCase(text, "warning")) return LogLevel::kWarn;
  return std::nullopt;
}

std::optional<LogFormat> ParseLogFormat(std::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return std::nullopt;
}

void ConfigureLog(const LogOptions& options) {
  std::lock_guard<std::mutex> lock(OptionsMutex());
  Options() = options;
}

LogOptions CurrentLogOptions() {
  std::lock_guard<std::mutex> lock(OptionsMutex());
  return Options();
}

bool LogEnabled(LogLevel level) {
  std::lock_guard<std::mutex> lock(OptionsMutex());
  return level >= Options().level;
}

std::string FormatLogLine(std::chrono::system_clock::time_point time, LogLevel level,
                          std::string_view message, std::string_view provider,
                          const LogOptions& options) {
  std::string line;
  line.reserve(message.size() + 64);
  if (options.format == LogFormat::kJson) {
    line += "{\"time\":\"";
    line += LineTime(time);
    line += "\",\"level\":\"";
    line += LowerLevelName(level);
    line += '"';
    if (!options.program.empty()) {
      line += ",\"program\":\"";
      AppendJsonEscaped(line, options.program);
      line += '"';
    }
    if (!provider.empty()) {
      line += ",\"provider\":\"";
      AppendJsonEscaped(line, provider);
      line += '"';
    }
    line += ",\"msg\":\"";
    AppendJsonEscaped(line, message);
    line += "\"}\n";
    return line;
  }
  line += LineTime(time);
  // Padded to the longest name, so messages line up.
  line += fmt::format(" {:<5} ", LogLevelName(level));
  if (!options.program.empty()) {
    line += options.program;
    line += ": ";
  }
  if (!provider.empty()) {
    line += '[';
    line += provider;
    line += "] ";
  }
  AppendOneLine(line, message);
  line += '\n';
  return line;
}

void Log(LogLevel level, std::string_view message, std::string_view provider) {
  const auto now = std::chrono::system_clock::now();
  const LogOptions options = CurrentLogOptions();
  if (level < options.level) return;
  const std::string line = FormatLogLine(now, level, message, provider, options);
  // One fwrite: stdio locks the stream per call, so concurrent lines do not
  // interleave (stderr is unbuffered: the line leaves at once).
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace hoststub
