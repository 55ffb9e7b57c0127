// RequestGuard: what every admin API request must pass before its handler
// runs (and before its body is read), in this order:
//
//  1. Host names this server: the listen address, "localhost", a loopback
//     address or one of [server] allowed_hosts, with the bound port
//     (400 otherwise). A page on another site that a browser was made to
//     resolve to this host (DNS rebinding) carries its own name here.
//  2. Origin, when sent, is this server's own scheme://host:port (403
//     otherwise): a browser sends it on every cross-site request.
//  3. With tokens configured: `Authorization: Bearer TOKEN` with a known
//     token (401 with `WWW-Authenticate: Bearer` otherwise) whose role
//     covers the route (403 otherwise). See RequiredRole. The tokens are
//     the file's as it is now (TokenSource); a file that changed into an
//     unusable one refuses every request with 503.
//  4. A request that carries a body or a Content-Type, other than GET and
//     HEAD, says application/json (415 otherwise): an HTML form can only
//     send form or text types.
//
// Thread-safety: immutable after construction; Check may run on any number
// of threads. Ownership: borrows the TokenSource, which must outlive it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "api/auth_tokens.h"
#include "api/token_source.h"

namespace httplib {
struct Request;
}

namespace hoststub {

struct RequestGuardOptions {
  // Host names (or address literals, IPv6 without brackets) accepted in
  // Host and Origin, compared without regard to case.
  std::vector<std::string> host_names;
  bool tls = false;
  // Null: no authentication (every request has every role).
  TokenSource* tokens = nullptr;
};

// The verdict on one request.
struct GuardVerdict {
  int status = 0;  // 0: let it through; else the HTTP status of the refusal
  std::string message;
  // For a 401: the WWW-Authenticate value to send.
  std::string challenge;
  // Who asked: the token's name, or "" without authentication (or when no
  // valid token came).
  std::string client;
  Role required = Role::kRead;

  bool allowed() const { return status == 0; }
};

// The role a route needs: GET and HEAD read; appending events write;
// everything else (backups, verify, delete, expire, cancel, compact, and any
// route added later) admin.
Role RequiredRole(std::string_view method, std::string_view path);

class RequestGuard {
 public:
  explicit RequestGuard(RequestGuardOptions options);

  // `port`: the port the server is bound to.
  GuardVerdict Check(const httplib::Request& req, uint16_t port) const;

 private:
  bool KnownHost(std::string_view host) const;
  // Whether "HOST[:PORT]" names this server.
  bool OwnAuthority(std::string_view authority, uint16_t port) const;

  RequestGuardOptions options_;
};

}  // namespace hoststub
