// One signed HTTP exchange through libcurl (see s3_http.h).
#include "repo/s3/s3_http.h"

#include <curl/curl.h>
#include <openssl/evp.h>
#include <strings.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <new>

namespace repo::s3 {
namespace {

// Response bodies read into memory (error documents, listings) are small;
// anything beyond this is not an S3 answer we understand.
constexpr size_t kMaxBufferedBody = 64ull << 20;

void GlobalInit() {
  // Thread-safe since libcurl 7.84; called once per process all the same.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    throw bkp::Error(BKP_E_INTERNAL,
                     std::string("libcurl cannot be initialised: ") + curl_easy_strerror(rc));
  }
}

struct Exchange {
  const HttpRequest* request = nullptr;
  HttpResponse* response = nullptr;
  CURL* curl = nullptr;
  size_t sent = 0;
  bool overflow = false;
};

size_t ReadBody(char* out, size_t size, size_t nitems, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const std::string_view body = x->request->body;
  const size_t n = std::min(size * nitems, body.size() - x->sent);
  std::memcpy(out, body.data() + x->sent, n);
  x->sent += n;
  return n;
}

// A retried request re-sends its body from the start.
int SeekBody(void* user, curl_off_t offset, int origin) {
  auto* x = static_cast<Exchange*>(user);
  if (origin != SEEK_SET || offset < 0 || static_cast<size_t>(offset) > x->request->body.size()) {
    return CURL_SEEKFUNC_CANTSEEK;
  }
  x->sent = static_cast<size_t>(offset);
  return CURL_SEEKFUNC_OK;
}

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * nmemb;
  long status = 0;
  curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
  HttpResponse& r = *x->response;
  if (x->request->into != nullptr && status >= 200 && status < 300) {
    if (r.received + n > x->request->capacity) {
      x->overflow = true;
      return 0;  // fails the transfer with CURLE_WRITE_ERROR
    }
    std::memcpy(x->request->into + r.received, data, n);
    r.received += n;
    return n;
  }
  if (r.body.size() + n > kMaxBufferedBody) {
    x->overflow = true;
    return 0;
  }
  r.body.append(data, n);
  return n;
}

size_t Header(char* data, size_t size, size_t nitems, void* user) {
  auto* x = static_cast<Exchange*>(user);
  const size_t n = size * nitems;
  std::string_view line(data, n);
  while (!line.empty() && (line.back() == '\r' || line.back() == '\n')) line.remove_suffix(1);
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  std::string_view name = line.substr(0, colon);
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  if (name.size() == 4 && strncasecmp(name.data(), "etag", 4) == 0) {
    x->response->etag = std::string(value);
  }
  return n;
}

void Digest(const EVP_MD* md, std::string_view data, unsigned char* out, unsigned int* len) {
  if (EVP_Digest(data.data(), data.size(), out, len, md, nullptr) != 1) {
    throw bkp::Error(BKP_E_INTERNAL, "OpenSSL cannot compute a digest");
  }
}

}  // namespace

std::string Md5Base64(std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  Digest(EVP_md5(), data, digest, &len);
  unsigned char out[64];
  const int n = EVP_EncodeBlock(out, digest, static_cast<int>(len));
  return std::string(reinterpret_cast<char*>(out), static_cast<size_t>(n));
}

struct HttpTransport::Handle {
  CURL* curl = nullptr;
  ~Handle() { curl_easy_cleanup(curl); }
};

HttpTransport::HttpTransport(const S3Config& config)
    : config_(config), scheme_(config.endpoint.substr(0, config.endpoint.find("://"))) {
  GlobalInit();
}

SigV4Credentials HttpTransport::SigningKeys() const {
  // Asked for at each request: temporary credentials change during a backup.
  const S3Credentials c = config_.credentials->Current();
  return {c.access_key_id, c.secret_access_key, c.session_token};
}

HttpTransport::~HttpTransport() = default;

std::unique_ptr<HttpTransport::Handle> HttpTransport::Take() {
  {
    std::lock_guard lock(mu_);
    if (!idle_.empty()) {
      auto h = std::move(idle_.back());
      idle_.pop_back();
      return h;
    }
  }
  auto h = std::make_unique<Handle>();
  h->curl = curl_easy_init();
  if (h->curl == nullptr) throw std::bad_alloc();
  return h;
}

void HttpTransport::Give(std::unique_ptr<Handle> handle) {
  std::lock_guard lock(mu_);
  idle_.push_back(std::move(handle));
}

HttpResponse HttpTransport::Perform(const HttpRequest& request) {
  HttpResponse response;
  auto handle = Take();
  CURL* curl = handle->curl;
  curl_easy_reset(curl);  // options only: the connection stays in the handle's cache

  Exchange x;
  x.request = &request;
  x.response = &response;
  x.curl = curl;

  struct curl_slist* headers = nullptr;
  struct FreeHeaders {
    curl_slist*& list;
    ~FreeHeaders() { curl_slist_free_all(list); }
  } free_headers{headers};
  auto add = [&](const std::string& line) {
    curl_slist* next = curl_slist_append(headers, line.c_str());
    if (next == nullptr) throw std::bad_alloc();
    headers = next;
  };
  // Every header this request sends on purpose is signed, and every signed
  // one is sent: Host set here (libcurl would write its own otherwise),
  // Content-Type for a POST (libcurl's default would be a form's).
  // libcurl adds only unsigned ones of its own (Accept, Content-Length).
  const SigV4Credentials keys = SigningKeys();
  const std::string amz_date = AmzDate(std::chrono::system_clock::now());
  const std::string payload_hash = Sha256Hex(request.body);
  SigV4Request sign{request.method, request.path, request.query,  {},
                    payload_hash,   amz_date,     config_.region, "s3"};
  sign.headers = {
      {"Host", request.host}, {"x-amz-date", amz_date}, {"x-amz-content-sha256", payload_hash}};
  if (!keys.session_token.empty()) {
    sign.headers.emplace_back("x-amz-security-token", keys.session_token);
  }
  if (request.method == "POST") sign.headers.emplace_back("Content-Type", "application/xml");
  sign.headers.insert(sign.headers.end(), request.headers.begin(), request.headers.end());
  for (const auto& [name, value] : sign.headers) add(name + ": " + value);
  add("Authorization: " + SignV4(sign, keys).authorization);
  // An empty value tells libcurl not to send the header: no 100-continue
  // round trip before each body. Not signed, since not sent.
  add("Expect:");

  const std::string url = scheme_ + "://" + request.host + request.path +
                          (request.query.empty() ? "" : "?" + request.query);

  char error[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  // The path goes out as signed: no "." or ".." segment resolved away.
  curl_easy_setopt(curl, CURLOPT_PATH_AS_IS, 1L);
  if (!config_.ca_file.empty()) curl_easy_setopt(curl, CURLOPT_CAINFO, config_.ca_file.c_str());
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(std::min<int64_t>(config_.stall_timeout.count(), 10) * 1000));
  // Abandon a transfer that moves less than a byte a second for the stall
  // timeout: a hung server or network, not a slow one.
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);

  if (request.method == "HEAD") {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadBody);
    curl_easy_setopt(curl, CURLOPT_READDATA, &x);
    curl_easy_setopt(curl, CURLOPT_SEEKFUNCTION, SeekBody);
    curl_easy_setopt(curl, CURLOPT_SEEKDATA, &x);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
  } else if (request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_POST, 1L);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.body.data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE,
                     static_cast<curl_off_t>(request.body.size()));
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);

  const CURLcode rc = curl_easy_perform(curl);
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  curl_off_t length = -1;
  if (curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length) == CURLE_OK &&
      length >= 0) {
    response.content_length = static_cast<uint64_t>(length);
  }
  if (rc != CURLE_OK) {
    response.transport = static_cast<int>(rc);
    response.transport_error = error[0] != '\0' ? error : curl_easy_strerror(rc);
    if (x.overflow) response.transport_error = "the response is larger than expected";
    // A handle whose transfer failed may hold a broken connection: start
    // the next request on a fresh one.
    handle.reset();
    return response;
  }
  Give(std::move(handle));
  return response;
}

}  // namespace repo::s3
