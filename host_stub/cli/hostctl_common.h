// What hostctl's command files share: the exit codes, the global options,
// the Command each Add*Command returns, error reporting, and the progress
// display of a running backup operation. One command group per file
// (hostctl_<group>.cc); main() in hostctl_main.cc only parses and dispatches.
//
// Exit codes: 0 ok; 1 the host or its provider reported a failure (an error
// reply, a failed or cancelled backup, problems found by verify); 2 usage;
// 3 the host could not be reached.
//
// Thread-safety: everything runs on the main thread, except `load`'s workers
// (see hostctl_events.cc) and the SIGINT flag, which is an atomic.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "api/admin_client.h"
#include "util/human_format.h"

namespace hostctl {

using hoststub::FormatBytes;
using hoststub::FormatEpochMs;
using hoststub::ParseDuration;

inline constexpr int kExitOk = 0;
inline constexpr int kExitHostError = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitUnreachable = 3;

struct GlobalArgs {
  // As given: a host, or a URL "http[s]://HOST[:PORT]" (see ResolveGlobalArgs).
  std::string host = "127.0.0.1";
  int port = 8124;
  std::string token_file;  // --token-file / HOSTCTL_TOKEN_FILE
  std::string cacert;      // --cacert / HOSTCTL_CACERT
  // Filled by ResolveGlobalArgs.
  bool tls = false;
  std::string token;
};

// Splits a URL in --host into scheme, host and port (a port in the URL wins
// over --port) and reads the token file (its first line, trimmed). Returns
// an error message for a bad URL or an unreadable or empty token file, ""
// when all is well.
std::string ResolveGlobalArgs(GlobalArgs& global);

struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};

// `io_timeout` bounds each read of a reply: verify, delete and expire answer
// only when the provider is done, which may take far longer than an append.
hoststub::AdminClient MakeClient(const GlobalArgs& global,
                                 std::chrono::milliseconds io_timeout = std::chrono::seconds(60));

// Prints the error and returns 3 when the host was unreachable, else 1.
int Fail(const hoststub::ApiError& error);
// Prints the message and returns 2.
int Usage(const std::string& message);

// How a waiting command shows a running operation.
enum class ProgressStyle {
  kBar,    // one line redrawn with \r (stdout is a terminal)
  kLines,  // a line per phase change and about every 10%
  kNone,   // nothing until the end (--no-progress with --json)
};

// kBar when stdout is a terminal and progress is wanted, else kLines (or
// kNone when `quiet`).
ProgressStyle ChooseProgressStyle(bool no_progress, bool quiet);

// Polls GET /v1/operation every 200 ms until operation `id` ends, drawing
// its progress, and returns its final state. The first SIGINT asks the host
// to cancel it (and waiting goes on until it has stopped); a second one
// stops waiting. An ApiError when the host cannot be asked.
hoststub::ApiResult<hoststub::OperationInfo> WaitForOperation(hoststub::AdminClient& client,
                                                              uint64_t id, ProgressStyle style);

// One line summarising a finished operation, e.g. "backup 20261121T... created
// via provider 'local': 12 files, 3.0 MiB read, 1.1 MiB stored, in 2.1 s".
std::string DescribeOutcome(const hoststub::OperationInfo& op);

Command AddAppendCommand(CLI::App& parent, const GlobalArgs& global);
Command AddLoadCommand(CLI::App& parent, const GlobalArgs& global);
Command AddReadCommand(CLI::App& parent, const GlobalArgs& global);
Command AddStatusCommand(CLI::App& parent, const GlobalArgs& global);
Command AddCancelCommand(CLI::App& parent, const GlobalArgs& global);
Command AddBackupCommand(CLI::App& parent, const GlobalArgs& global);
Command AddRestoreCommand(CLI::App& parent, const GlobalArgs& global);
Command AddSchedulesCommand(CLI::App& parent, const GlobalArgs& global);

}  // namespace hostctl
