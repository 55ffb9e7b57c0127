// hostctl's shared helpers: clients, error reporting, formatting, and
// following a running backup operation with a progress bar or plain lines.
//
// Thread-safety: main thread only; the SIGINT handler only bumps an atomic.
#include "cli/hostctl_common.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>

#include <fmt/format.h>

namespace hostctl {

using namespace hoststub;

namespace {

constexpr std::chrono::milliseconds kPollInterval{200};
constexpr int kBarWidth = 24;

std::atomic<int> g_interrupts{0};

extern "C" void CountInterrupt(int) { g_interrupts.fetch_add(1); }

// Catches SIGINT while alive, restoring the previous disposition after.
class InterruptCounter {
 public:
  InterruptCounter() {
    g_interrupts = 0;
    struct sigaction action {};
    action.sa_handler = CountInterrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, &previous_);
  }
  ~InterruptCounter() { sigaction(SIGINT, &previous_, nullptr); }
  InterruptCounter(const InterruptCounter&) = delete;
  InterruptCounter& operator=(const InterruptCounter&) = delete;
  int count() const { return g_interrupts.load(); }

 private:
  struct sigaction previous_ {};
};

// 0..100 from bytes when the total is known, else from files; nullopt when
// neither total is.
std::optional<double> Percent(const OperationInfo& op) {
  if (op.bytes_total > 0) {
    return 100.0 * static_cast<double>(std::min(op.bytes_done, op.bytes_total)) /
           static_cast<double>(op.bytes_total);
  }
  if (op.files_total > 0) {
    return 100.0 * static_cast<double>(std::min(op.files_done, op.files_total)) /
           static_cast<double>(op.files_total);
  }
  return std::nullopt;
}

std::string Rate(const OperationInfo& op) {
  if (op.elapsed_ms <= 0) return "";
  const double per_second =
      static_cast<double>(op.bytes_done) * 1000.0 / static_cast<double>(op.elapsed_ms);
  return FormatBytes(static_cast<uint64_t>(per_second)) + "/s";
}

std::string Counts(const OperationInfo& op) {
  std::string text;
  if (op.bytes_total > 0) {
    text = fmt::format("{} of {}", FormatBytes(op.bytes_done), FormatBytes(op.bytes_total));
  } else if (op.bytes_done > 0) {
    text = FormatBytes(op.bytes_done);
  }
  if (op.files_total > 0) {
    text +=
        fmt::format("{}{} of {} files", text.empty() ? "" : ", ", op.files_done, op.files_total);
  }
  return text;
}

void DrawBar(const OperationInfo& op) {
  const std::optional<double> percent = Percent(op);
  const int filled = percent ? static_cast<int>(*percent * kBarWidth / 100.0) : 0;
  std::string bar = std::string(static_cast<size_t>(filled), '#') +
                    std::string(static_cast<size_t>(kBarWidth - filled), '-');
  const std::string line =
      fmt::format("{} {} [{}] {} {}  {}  {}{}", op.kind, op.id, bar,
                  percent ? fmt::format("{:3.0f}%", *percent) : std::string("  ?%"), op.phase,
                  Counts(op), Rate(op), op.cancel_requested ? "  (cancelling)" : "");
  // \x1b[K clears what a longer previous line left behind.
  std::cout << '\r' << line << "\x1b[K" << std::flush;
}

// Plain lines: one when the phase changes, one per 10% step.
class LinePrinter {
 public:
  void Update(const OperationInfo& op) {
    const std::optional<double> percent = Percent(op);
    const int step = percent ? static_cast<int>(*percent / 10.0) : -1;
    if (op.phase == phase_ && step <= step_) return;
    phase_ = op.phase;
    step_ = step;
    std::cout << fmt::format("{} {} via '{}': {}{}{}\n", op.kind, op.id, op.provider, op.phase,
                             percent ? fmt::format(" {:.0f}%", *percent) : std::string(),
                             Counts(op).empty() ? "" : " (" + Counts(op) + ")")
              << std::flush;
  }

 private:
  std::string phase_;
  int step_ = -1;
};

}  // namespace

std::string ResolveGlobalArgs(GlobalArgs& global) {
  std::string_view host = global.host;
  for (const auto& [scheme, tls] : {std::pair<std::string_view, bool>{"https://", true},
                                    std::pair<std::string_view, bool>{"http://", false}}) {
    if (host.substr(0, scheme.size()) != scheme) continue;
    global.tls = tls;
    host.remove_prefix(scheme.size());
    while (!host.empty() && host.back() == '/') host.remove_suffix(1);
    std::string_view port_text;
    if (!host.empty() && host.front() == '[') {
      const size_t close = host.find(']');
      if (close == std::string_view::npos) return fmt::format("bad --host URL '{}'", global.host);
      if (close + 1 < host.size() && host[close + 1] == ':') port_text = host.substr(close + 2);
      host = host.substr(1, close - 1);
    } else if (const size_t colon = host.find(':'); colon != std::string_view::npos) {
      port_text = host.substr(colon + 1);
      host = host.substr(0, colon);
    }
    if (!port_text.empty()) {
      int port = 0;
      const auto [end, ec] =
          std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
      if (ec != std::errc() || end != port_text.data() + port_text.size() || port < 1 ||
          port > 65535) {
        return fmt::format("bad port in --host URL '{}'", global.host);
      }
      global.port = port;
    }
    if (host.empty() || host.find('/') != std::string_view::npos) {
      return fmt::format("bad --host URL '{}' (expected http[s]://HOST[:PORT])", global.host);
    }
    global.host = std::string(host);
    break;
  }
  if (!global.cacert.empty() && !global.tls) {
    return "--cacert needs an https:// address in --host";
  }
  if (!global.token_file.empty()) {
    std::ifstream in(global.token_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      return fmt::format(
          "cannot read a token from --token-file '{}'{}", global.token_file,
          in ? std::string(": it is empty") : ": " + std::string(std::strerror(errno)));
    }
    const size_t begin = line.find_first_not_of(" \t\r");
    const size_t end = line.find_last_not_of(" \t\r");
    if (begin == std::string::npos) {
      return fmt::format("--token-file '{}' starts with an empty line, not a token",
                         global.token_file);
    }
    global.token = line.substr(begin, end - begin + 1);
  }
  return "";
}

AdminClient MakeClient(const GlobalArgs& global, std::chrono::milliseconds io_timeout) {
  AdminClientOptions options;
  options.host = global.host;
  options.port = static_cast<uint16_t>(global.port);
  options.io_timeout = io_timeout;
  options.tls = global.tls;
  options.ca_file = global.cacert;
  options.bearer_token = global.token;
  return AdminClient(options);
}

int Fail(const ApiError& error) {
  std::cerr << "hostctl: " << error.message << '\n';
  return error.unreachable() ? kExitUnreachable : kExitHostError;
}

int Usage(const std::string& message) {
  std::cerr << "hostctl: " << message << " (see --help)\n";
  return kExitUsage;
}

ProgressStyle ChooseProgressStyle(bool no_progress, bool quiet) {
  if (quiet) return ProgressStyle::kNone;
  if (!no_progress && isatty(STDOUT_FILENO) == 1) return ProgressStyle::kBar;
  return ProgressStyle::kLines;
}

ApiResult<OperationInfo> WaitForOperation(AdminClient& client, uint64_t id, ProgressStyle style) {
  InterruptCounter interrupts;
  LinePrinter lines;
  bool cancel_sent = false;
  bool drew_bar = false;
  auto end_bar = [&] {
    if (drew_bar) std::cout << '\n' << std::flush;
    drew_bar = false;
  };
  for (;;) {
    // The host holds the request until the operation ends or the interval
    // passes: the end is seen at once, and progress every interval.
    ApiResult<std::optional<OperationInfo>> reply = client.GetOperation(kPollInterval);
    if (!reply.ok()) {
      end_bar();
      return reply.error();
    }
    if (!reply->has_value() || (*reply)->id != id) {
      end_bar();
      return ApiError{409, fmt::format("operation {} is no longer the host's current one (was the "
                                       "host restarted?); its outcome is in the host's log",
                                       id)};
    }
    const OperationInfo& op = **reply;
    if (style == ProgressStyle::kBar) {
      DrawBar(op);
      drew_bar = true;
    } else if (style == ProgressStyle::kLines) {
      lines.Update(op);
    }
    if (!op.running()) {
      end_bar();
      return op;
    }
    if (interrupts.count() == 1 && !cancel_sent) {
      cancel_sent = true;
      end_bar();
      std::cerr << fmt::format(
          "hostctl: asking the host to cancel {} {}; waiting for it to stop (Ctrl-C again to "
          "stop waiting)\n",
          op.kind, op.id);
      ApiResult<OperationInfo> cancelled = client.CancelOperation();
      // NotFound: it ended meanwhile, which the next poll shows.
      if (!cancelled.ok() && cancelled.error().http_status != 404) {
        return cancelled.error();
      }
    } else if (interrupts.count() >= 2) {
      end_bar();
      return ApiError{409, fmt::format("stopped waiting; {} {} may still be running on the host "
                                       "(hostctl status shows it)",
                                       op.kind, op.id)};
    }
  }
}

std::string DescribeOutcome(const OperationInfo& op) {
  const double seconds = static_cast<double>(op.elapsed_ms) / 1000.0;
  if (op.state == "succeeded" && op.kind == "backup") {
    return fmt::format(
        "backup {} created via provider '{}': {} files, {} read, {} newly stored, in {:.1f} s",
        op.backup_id, op.provider, op.files, FormatBytes(op.bytes_read),
        FormatBytes(op.bytes_stored), seconds);
  }
  if (op.state == "succeeded" && op.kind == "restore") {
    return fmt::format(
        "context '{}' restored via provider '{}'{}: {} files, {}, in {:.1f} s{}", op.context,
        op.provider, op.backup_id.empty() ? "" : " from backup '" + op.backup_id + "'", op.files,
        FormatBytes(op.bytes_read), seconds,
        op.set_aside.empty() ? "" : "; the previous context was moved to '" + op.set_aside + "'");
  }
  const std::string what = fmt::format(
      "{} operation {} via provider '{}'{}", op.kind, op.id, op.provider,
      op.backup_id.empty() || op.kind == "backup" ? "" : " of backup '" + op.backup_id + "'");
  if (op.state == "succeeded") return fmt::format("{} succeeded in {:.1f} s", what, seconds);
  if (op.state == "running") {
    return fmt::format("{} running: {}{}", what, op.phase,
                       Counts(op).empty() ? "" : " (" + Counts(op) + ")");
  }
  return fmt::format("{} {} after {:.1f} s: {}", what, op.state, seconds, op.error);
}

}  // namespace hostctl
