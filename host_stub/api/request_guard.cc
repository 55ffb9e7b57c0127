// The admin API's per-request checks (see request_guard.h).
#include "api/request_guard.h"

#include <algorithm>
#include <cctype>
#include <charconv>

#include <fmt/format.h>
#include <httplib.h>

namespace hoststub {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view TrimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool StartsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && Lower(s.substr(0, prefix.size())) == prefix;
}

// The printable form of a header value in a message, cut short.
std::string Shown(std::string_view value) {
  std::string out;
  for (char c : value.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

Role RequiredRole(std::string_view method, std::string_view path) {
  if (method == "GET" || method == "HEAD") return Role::kRead;
  constexpr std::string_view kContexts = "/v1/contexts/";
  constexpr std::string_view kEvents = "/events";
  if (method == "POST" && path.size() > kContexts.size() + kEvents.size() &&
      path.substr(0, kContexts.size()) == kContexts &&
      path.substr(path.size() - kEvents.size()) == kEvents) {
    return Role::kWrite;
  }
  return Role::kAdmin;
}

RequestGuard::RequestGuard(RequestGuardOptions options) : options_(std::move(options)) {
  std::vector<std::string> unique;
  for (const std::string& name : options_.host_names) {
    const std::string lower = Lower(name);
    if (std::find(unique.begin(), unique.end(), lower) == unique.end()) unique.push_back(lower);
  }
  options_.host_names = std::move(unique);
}

bool RequestGuard::KnownHost(std::string_view host) const {
  const std::string lower = Lower(host);
  return std::find(options_.host_names.begin(), options_.host_names.end(), lower) !=
         options_.host_names.end();
}

bool RequestGuard::OwnAuthority(std::string_view authority, uint16_t port) const {
  std::string_view host = authority;
  std::string_view port_text;
  if (!host.empty() && host.front() == '[') {
    const size_t close = host.find(']');
    if (close == std::string_view::npos) return false;
    const std::string_view rest = host.substr(close + 1);
    host = host.substr(1, close - 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return false;
      port_text = rest.substr(1);
    }
  } else if (const size_t colon = host.rfind(':'); colon != std::string_view::npos) {
    port_text = host.substr(colon + 1);
    host = host.substr(0, colon);
  }
  if (!KnownHost(host)) return false;
  if (port_text.empty()) return port == (options_.tls ? 443 : 80);
  uint32_t given = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), given);
  return ec == std::errc() && end == port_text.data() + port_text.size() && given == port;
}

GuardVerdict RequestGuard::Check(const httplib::Request& req, uint16_t port) const {
  GuardVerdict verdict;
  verdict.required = RequiredRole(req.method, req.path);
  std::string accepted;
  for (const std::string& name : options_.host_names) {
    accepted += fmt::format("{}{}", accepted.empty() ? "" : ", ", name);
  }

  const std::string host = req.get_header_value("Host");
  if (!OwnAuthority(host, port)) {
    verdict.status = 400;
    verdict.message = fmt::format(
        "Host '{}' is not this server (accepted: {}, port {}); add the name the clients use to "
        "[server] allowed_hosts",
        Shown(host), accepted, port);
    return verdict;
  }

  if (req.has_header("Origin")) {
    const std::string origin = req.get_header_value("Origin");
    const std::string_view scheme = options_.tls ? "https://" : "http://";
    const bool own = StartsWithIgnoreCase(origin, scheme) &&
                     OwnAuthority(std::string_view(origin).substr(scheme.size()), port);
    if (!own) {
      verdict.status = 403;
      verdict.message =
          fmt::format("cross-site request refused: Origin '{}' is not this server ({}HOST:{})",
                      Shown(origin), scheme, port);
      return verdict;
    }
  }

  if (options_.tokens != nullptr) {
    const std::string authorization = req.get_header_value("Authorization");
    constexpr std::string_view kBearer = "bearer ";
    if (!StartsWithIgnoreCase(authorization, kBearer)) {
      verdict.status = 401;
      verdict.challenge = R"(Bearer realm="hostd")";
      verdict.message =
          "this server needs a bearer token (Authorization: Bearer TOKEN; hostctl --token-file "
          "FILE); `hostd token create` makes one";
      return verdict;
    }
    const Result<std::shared_ptr<const AuthTokens>> tokens = options_.tokens->Current();
    if (!tokens.ok()) {
      verdict.status = 503;
      // The reason (path, mode) is for the host's log, not for whoever asks.
      verdict.message =
          "the server's tokens file changed and cannot be used: no request is served until an "
          "operator fixes it (the host's log says why)";
      return verdict;
    }
    const std::string_view presented =
        TrimOws(std::string_view(authorization).substr(kBearer.size()));
    const TokenEntry* entry = (*tokens)->Authenticate(presented);
    if (entry == nullptr) {
      verdict.status = 401;
      verdict.challenge = R"(Bearer realm="hostd", error="invalid_token")";
      verdict.message = "the bearer token is not one this server knows (revoked, or mistyped?)";
      return verdict;
    }
    verdict.client = entry->name;
    if (entry->role < verdict.required) {
      verdict.status = 403;
      verdict.message =
          fmt::format("token '{}' has role {}; {} {} needs role {}", entry->name,
                      RoleName(entry->role), req.method, req.path, RoleName(verdict.required));
      return verdict;
    }
  }

  if (req.method != "GET" && req.method != "HEAD") {
    const std::string length = req.get_header_value("Content-Length");
    const bool has_body = !length.empty() && length != "0";
    const bool has_type = req.has_header("Content-Type");
    if (has_body || has_type) {
      const std::string type = req.get_header_value("Content-Type");
      const std::string media = Lower(TrimOws(std::string_view(type).substr(0, type.find(';'))));
      if (media != "application/json") {
        verdict.status = 415;
        verdict.message =
            fmt::format("{} {} takes a JSON body: send Content-Type: application/json (got '{}')",
                        req.method, req.path, has_type ? Shown(type) : std::string("none"));
        return verdict;
      }
    }
  }
  return verdict;
}

}  // namespace hoststub
