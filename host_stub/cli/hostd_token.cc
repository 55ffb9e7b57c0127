// `hostd token create`: makes a new bearer token for the admin API, appends
// its name, role and salted hash to the tokens file (created private to the
// user if missing) and prints the token, once: only its hash is kept.
//
// Thread-safety: runs on the main thread.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include <fmt/format.h>

#include "api/auth_tokens.h"
#include "cli/hostd_command.h"
#include "util/log.h"

namespace hostd {
namespace {

using namespace hoststub;

struct TokenArgs {
  std::string name;
  std::string role;
  std::string tokens_file;
};

Status AppendLine(const std::string& file, const std::string& line) {
  // O_CREAT with 0600: a new file is private from its first byte.
  const int fd = ::open(file.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) {
    return Status::IOError(
        fmt::format("cannot open tokens file '{}': {}", file, std::strerror(errno)));
  }
  const std::string text = line + "\n";
  const ssize_t written = ::write(fd, text.data(), text.size());
  const int write_errno = errno;
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (written != static_cast<ssize_t>(text.size()) || !synced) {
    return Status::IOError(fmt::format("cannot write tokens file '{}': {}", file,
                                       std::strerror(written < 0 ? write_errno : EIO)));
  }
  return Status::OK();
}

int RunCreate(const TokenArgs& args) {
  Result<Role> role = ParseRole(args.role);
  if (!role.ok()) {
    LogError("--role: " + role.status().message());
    return kExitUsage;
  }
  if (!IsValidTokenName(args.name)) {
    LogError(fmt::format("--name '{}' must be 1 to 64 of A-Z a-z 0-9 _ . -", args.name));
    return kExitUsage;
  }
  // An existing file must be private and well-formed, and the name new.
  struct stat st {};
  if (::stat(args.tokens_file.c_str(), &st) == 0 && st.st_size > 0) {
    Result<AuthTokens> existing = AuthTokens::Load(args.tokens_file);
    if (!existing.ok()) {
      LogError(existing.status().message());
      return kExitUsage;
    }
    for (const TokenEntry& entry : existing->entries()) {
      if (entry.name == args.name) {
        LogError(
            fmt::format("tokens file '{}' already has a token named '{}'; choose another name (or "
                        "remove its line to revoke it)",
                        args.tokens_file, args.name));
        return kExitUsage;
      }
    }
  } else if (Status private_file = CheckPrivateFile(args.tokens_file, "tokens file");
             !private_file.ok() && private_file.code() != Status::Code::kNotFound) {
    LogError(private_file.message());
    return kExitUsage;
  }
  Result<std::string> token = GenerateToken();
  if (!token.ok()) {
    LogError(token.status().message());
    return kExitRuntime;
  }
  Result<std::string> line = TokenFileLine(args.name, *role, *token);
  if (!line.ok()) {
    LogError(line.status().message());
    return kExitRuntime;
  }
  if (Status appended = AppendLine(args.tokens_file, *line); !appended.ok()) {
    LogError(appended.message());
    return kExitRuntime;
  }
  LogInfo(
      fmt::format("token '{}' (role {}) added to '{}'; it is printed below once and stored nowhere "
                  "in clear. A running hostd takes it at its next request, no restart needed.",
                  args.name, RoleName(*role), args.tokens_file));
  std::cout << *token << '\n';
  return kExitOk;
}

}  // namespace

Command AddTokenCommand(CLI::App& parent) {
  auto args = std::make_shared<TokenArgs>();
  CLI::App* cmd = parent.add_subcommand("token", "Manage the admin API's bearer tokens");
  cmd->require_subcommand(1);
  CLI::App* create = cmd->add_subcommand(
      "create", "Make a token, append its hash to the tokens file and print the token once");
  create->add_option("--name", args->name, "Who the token is for (in the audit log)")->required();
  create->add_option("--role", args->role, "read, write or admin")->required();
  create->add_option("--tokens-file", args->tokens_file, "The [server] auth_tokens_file")
      ->required();
  return {cmd, [args] { return RunCreate(*args); }};
}

}  // namespace hostd
