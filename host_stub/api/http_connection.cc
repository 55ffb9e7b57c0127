// HttpConnection over Boost.Beast (see http_connection.h).
//
// Beast's timeouts (tcp_stream::expires_after) only apply to asynchronous
// operations, so each step is started asynchronously and the private
// io_context is run until that step completes: synchronous to the caller,
// bounded in time, with no extra thread and no sleeping.
#include "api/http_connection.h"

#include <poll.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>

namespace hoststub {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Kind = HttpTransportError::Kind;

// Beast refuses bodies over 8 MiB by default; a listing of many backups may
// come near that. The admin API is trusted (loopback or an operator's own
// network), so the bound is only against a runaway reply.
constexpr uint64_t kMaxReplyBytes = uint64_t{1} << 30;

// Beast reads at most what the buffer can hold without growing (but at least
// 512 bytes), and the buffer only grows for a header that does not fit: left
// to start empty, a reply of megabytes arrives 512 bytes per recv.
constexpr size_t kReadBufferBytes = 64 * 1024;

}  // namespace

std::string HostPort(const HttpConnectionOptions& options) {
  const bool ipv6 = options.host.find(':') != std::string::npos;
  return ipv6 ? fmt::format("[{}]:{}", options.host, options.port)
              : fmt::format("{}:{}", options.host, options.port);
}

struct HttpConnection::Impl {
  explicit Impl(HttpConnectionOptions o)
      : options(std::move(o)),
        host_header(HostPort(options)),
        tls_context(asio::ssl::context::tls_client) {
    buffer.reserve(kReadBufferBytes);
    if (options.tls) {
      SSL_CTX_set_min_proto_version(tls_context.native_handle(), TLS1_2_VERSION);
      tls_context.set_verify_mode(asio::ssl::verify_peer);
      beast::error_code ec;
      if (options.ca_file.empty()) {
        tls_context.set_default_verify_paths(ec);
      } else {
        tls_context.load_verify_file(options.ca_file, ec);
        if (ec) {
          tls_setup_error = fmt::format("cannot load the CA certificates in '{}': {}",
                                        options.ca_file, ec.message());
        }
      }
    }
  }

  // Calls `fn` with the stream requests and replies go over.
  template <typename Fn>
  auto WithStream(Fn&& fn) {
    if (tls) return fn(*tls);
    return fn(stream);
  }

  std::optional<HttpTransportError> Handshake() {
    if (!tls_setup_error.empty()) return HttpTransportError{Kind::kTls, tls_setup_error};
    tls.emplace(stream, tls_context);
    SSL* ssl = tls->native_handle();
    beast::error_code ec;
    asio::ip::make_address(options.host, ec);
    // The certificate must name the host we asked for: an address literal
    // as an IP SAN, a name as a DNS SAN (also sent as SNI).
    if (!ec) {
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), options.host.c_str());
    } else {
      SSL_set_tlsext_host_name(ssl, options.host.c_str());
      X509_VERIFY_PARAM_set1_host(SSL_get0_param(ssl), options.host.c_str(), 0);
    }
    stream.expires_after(options.connect_timeout);
    ec = Run([&](auto handler) {
      tls->async_handshake(asio::ssl::stream_base::client, std::move(handler));
    });
    if (!ec) return std::nullopt;
    std::string detail = ec.message();
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) {
      detail = fmt::format(
          "the server's certificate is not trusted: {} (pass its CA with "
          "--cacert)",
          X509_verify_cert_error_string(verify));
    } else if (ec == beast::error::timeout) {
      detail = fmt::format("no TLS handshake within {} ms", options.connect_timeout.count());
    }
    return HttpTransportError{Kind::kTls, detail};
  }

  // Starts one asynchronous operation through `initiate` (which gets the
  // completion handler) and runs the io_context until it has completed,
  // the stream's timer included. Returns the operation's error code.
  template <typename Initiate>
  beast::error_code Run(Initiate&& initiate) {
    beast::error_code result;
    initiate([&result](beast::error_code ec, auto&&...) { result = ec; });
    io.restart();
    io.run();
    return result;
  }

  // A kept-alive connection the server closed while we were idle (its
  // idle timeout, a restart) reads as readable: EOF, or bytes no request
  // asked for. Either way it is unusable, and finding out now costs one
  // poll() instead of a failed request.
  bool UnusableAfterIdle() {
    pollfd p{};
    p.fd = stream.socket().native_handle();
    p.events = POLLIN;
    return ::poll(&p, 1, 0) != 0;
  }

  std::optional<HttpTransportError> Connect() {
    Close();
    std::vector<tcp::endpoint> endpoints;
    beast::error_code ec;
    // An address literal (IPv6 included) needs no resolver, and skipping it
    // skips getaddrinfo's NSS lookups.
    const asio::ip::address literal = asio::ip::make_address(options.host, ec);
    if (!ec) {
      endpoints.emplace_back(literal, options.port);
    } else {
      tcp::resolver resolver(io);
      const tcp::resolver::results_type results = resolver.resolve(
          options.host, std::to_string(options.port), tcp::resolver::numeric_service, ec);
      if (ec) return HttpTransportError{Kind::kResolve, ec.message()};
      for (const auto& entry : results) endpoints.push_back(entry.endpoint());
    }
    stream.expires_after(options.connect_timeout);
    ec = Run([&](auto handler) { stream.async_connect(endpoints, std::move(handler)); });
    if (ec) {
      Close();
      const Kind kind = ec == beast::error::timeout ? Kind::kConnectTimeout : Kind::kConnect;
      return HttpTransportError{kind, ec.message()};
    }
    // Request and reply are each one small write: don't let Nagle hold the
    // request back waiting for an ACK.
    stream.socket().set_option(tcp::no_delay(true), ec);
    if (options.tls) {
      if (std::optional<HttpTransportError> error = Handshake()) {
        Close();
        return error;
      }
    }
    open = true;
    return std::nullopt;
  }

  std::optional<HttpTransportError> Send(const HttpRequest& request) {
    http::request<http::string_body> message;
    const http::verb verb = http::string_to_verb({request.method.data(), request.method.size()});
    if (verb == http::verb::unknown) {
      message.method_string({request.method.data(), request.method.size()});
    } else {
      message.method(verb);
    }
    message.target({request.target.data(), request.target.size()});
    message.version(11);
    message.set(http::field::host, host_header);
    if (!options.bearer_token.empty()) {
      message.set(http::field::authorization, "Bearer " + options.bearer_token);
    }
    if (request.json_body != nullptr) {
      message.set(http::field::content_type, "application/json");
      message.body() = *request.json_body;
    }
    message.prepare_payload();

    // Written piece by piece so that io_timeout bounds each write on the
    // socket, as it bounds each read below, rather than the whole request.
    http::request_serializer<http::string_body> serializer(message);
    while (!serializer.is_done()) {
      stream.expires_after(options.io_timeout);
      const beast::error_code ec = Run([&](auto handler) {
        WithStream([&](auto& s) { http::async_write_some(s, serializer, std::move(handler)); });
      });
      if (ec) return HttpTransportError{Kind::kWrite, Describe(ec)};
    }
    return std::nullopt;
  }

  std::optional<HttpTransportError> Receive(HttpReply& reply) {
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxReplyBytes);
    while (!parser.is_done()) {
      stream.expires_after(options.io_timeout);
      const beast::error_code ec = Run([&](auto handler) {
        WithStream([&](auto& s) { http::async_read_some(s, buffer, parser, std::move(handler)); });
      });
      if (ec) return HttpTransportError{Kind::kRead, Describe(ec)};
    }
    reply.status = static_cast<int>(parser.get().result_int());
    reply.body = std::move(parser.get().body());
    // `Connection: close`, or an HTTP/1.0 reply: the server closes its end.
    if (!parser.keep_alive()) Close();
    return std::nullopt;
  }

  std::string Describe(const beast::error_code& ec) const {
    if (ec == beast::error::timeout) {
      return fmt::format("nothing moved for {} ms", options.io_timeout.count());
    }
    if (ec == http::error::end_of_stream || ec == asio::error::eof) {
      return "the server closed the connection";
    }
    return ec.message();
  }

  void Close() {
    tls.reset();
    stream.close();
    buffer.clear();
    open = false;
  }

  const HttpConnectionOptions options;
  const std::string host_header;
  asio::io_context io{1};  // only ever run by the calling thread
  beast::tcp_stream stream{io};
  asio::ssl::context tls_context;
  std::string tls_setup_error;  // a --cacert that could not be loaded
  // Over `stream` while a TLS connection is open.
  std::optional<asio::ssl::stream<beast::tcp_stream&>> tls;
  beast::flat_buffer buffer;  // read ahead of the parser; emptied on Close
  bool open = false;
};

HttpConnection::HttpConnection(HttpConnectionOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

HttpConnection::~HttpConnection() = default;

void HttpConnection::Close() { impl_->Close(); }

std::optional<HttpTransportError> HttpConnection::Exchange(const HttpRequest& request,
                                                           HttpReply& reply) {
  reply = HttpReply{};
  if (impl_->open && impl_->UnusableAfterIdle()) impl_->Close();
  if (!impl_->open) {
    if (std::optional<HttpTransportError> error = impl_->Connect()) return error;
  }
  std::optional<HttpTransportError> error = impl_->Send(request);
  if (!error) error = impl_->Receive(reply);
  if (error) {
    // Half a request or half a reply leaves the stream out of step.
    impl_->Close();
    reply = HttpReply{};
  }
  return error;
}

}  // namespace hoststub
