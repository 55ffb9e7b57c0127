// IMDSv2 credentials through libcurl (see s3_imds.h).
#include "repo/s3/s3_imds.h"

#include <curl/curl.h>

#include <memory>
#include <new>
#include <thread>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/utc_time.h"

namespace repo::s3 {
namespace {

constexpr const char* kTokenPath = "/latest/api/token";
constexpr const char* kRolesPath = "/latest/meta-data/iam/security-credentials/";
// The longest session token IMDS grants; kept until a minute before.
constexpr int kTokenTtlSeconds = 21600;
constexpr long kConnectTimeoutMs = 1000;
constexpr long kTimeoutMs = 3000;
// A metadata answer is a few hundred bytes; more is not one.
constexpr size_t kMaxBody = 64 * 1024;

size_t Collect(char* data, size_t size, size_t nmemb, void* user) {
  auto* body = static_cast<std::string*>(user);
  const size_t n = size * nmemb;
  if (body->size() + n > kMaxBody) return 0;
  body->append(data, n);
  return n;
}

std::string TrimDocument(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  size_t from = 0;
  while (from < s.size() && s[from] == ' ') ++from;
  return s.substr(from);
}

// A string field of the credentials document, or "" when absent.
std::string Field(const nlohmann::json& doc, const char* name) {
  const auto it = doc.find(name);
  return it != doc.end() && it->is_string() ? it->get<std::string>() : "";
}

}  // namespace

ImdsClient::ImdsClient(std::string endpoint) : endpoint_(std::move(endpoint)) {
  // Thread-safe since libcurl 7.84, reference counted: harmless beside
  // the transport's own call.
  static const CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    throw bkp::Error(BKP_E_INTERNAL,
                     std::string("libcurl cannot be initialised: ") + curl_easy_strerror(rc));
  }
}

ImdsClient::Answer ImdsClient::Request(const char* method, const std::string& path,
                                       const std::vector<std::string>& headers) const {
  Answer answer;
  std::unique_ptr<CURL, void (*)(CURL*)> curl(curl_easy_init(), curl_easy_cleanup);
  if (!curl) throw std::bad_alloc();
  curl_slist* list = nullptr;
  struct FreeList {
    curl_slist*& list;
    ~FreeList() { curl_slist_free_all(list); }
  } free_list{list};
  for (const auto& h : headers) {
    curl_slist* next = curl_slist_append(list, h.c_str());
    if (next == nullptr) throw std::bad_alloc();
    list = next;
  }
  const std::string url = endpoint_ + path;
  char error[CURL_ERROR_SIZE] = "";
  CURL* c = curl.get();
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, error);
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // a proxy cannot reach the link-local service
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, kConnectTimeoutMs);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, kTimeoutMs);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &answer.body);
  if (std::string(method) == "PUT") {
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, list);
  const CURLcode rc = curl_easy_perform(c);
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
  if (rc != CURLE_OK) {
    answer.transport = static_cast<int>(rc);
    answer.error = error[0] != '\0' ? error : curl_easy_strerror(rc);
  }
  return answer;
}

void ImdsClient::Fail(const std::string& what, const Answer& answer) const {
  const std::string why =
      answer.transport != 0 ? answer.error : "HTTP " + std::to_string(answer.status);
  throw bkp::Error(BKP_E_AUTH,
                   "instance metadata at " + endpoint_ + ": " + what + " failed (" + why + ")");
}

std::string ImdsClient::Token() {
  const auto now = std::chrono::steady_clock::now();
  if (!token_.empty() && now < token_until_) return token_;
  const Answer a =
      Request("PUT", kTokenPath,
              {"X-aws-ec2-metadata-token-ttl-seconds: " + std::to_string(kTokenTtlSeconds),
               "Content-Type:"});
  if (a.transport != 0 || a.status != 200 || TrimDocument(a.body).empty()) {
    Fail(std::string("PUT ") + kTokenPath + " (the IMDSv2 session token)", a);
  }
  token_ = TrimDocument(a.body);
  token_until_ = now + std::chrono::seconds(kTokenTtlSeconds - 60);
  return token_;
}

S3Credentials ImdsClient::FetchOnce() {
  // A GET refused with 401 means the session token lapsed (or the service
  // restarted): one new token, then the GET again.
  auto get = [&](const std::string& path) {
    Answer a;
    for (int round = 0; round < 2; ++round) {
      a = Request("GET", path, {"X-aws-ec2-metadata-token: " + Token()});
      if (a.transport != 0 || a.status != 401) break;
      token_.clear();
    }
    return a;
  };
  const Answer roles = get(kRolesPath);
  if (roles.transport == 0 && roles.status == 404) {
    throw bkp::Error(BKP_E_AUTH, "instance metadata at " + endpoint_ +
                                     ": no IAM role is attached to this instance (GET " +
                                     kRolesPath + " answered HTTP 404)");
  }
  if (roles.transport != 0 || roles.status != 200) Fail(std::string("GET ") + kRolesPath, roles);
  std::string role = TrimDocument(roles.body.substr(0, roles.body.find('\n')));
  if (role.empty() || role.find_first_of("/ \t?#%") != std::string::npos) {
    throw bkp::Error(BKP_E_AUTH, "instance metadata at " + endpoint_ + ": GET " + kRolesPath +
                                     " did not answer with a role name");
  }
  const std::string what = "GET " + std::string(kRolesPath) + role;
  const Answer doc = get(kRolesPath + role);
  if (doc.transport != 0 || doc.status != 200) Fail(what, doc);
  const auto bad = [&](const std::string& why) {
    return bkp::Error(BKP_E_AUTH, "instance metadata at " + endpoint_ + ": " + what + ": " + why);
  };
  const nlohmann::json json = nlohmann::json::parse(doc.body, nullptr, /*allow_exceptions=*/false);
  if (!json.is_object()) throw bad("the answer is not a JSON credentials document");
  const std::string code = Field(json, "Code");
  if (!code.empty() && code != "Success") throw bad("the answer's Code is '" + code + "'");
  S3Credentials c;
  c.access_key_id = Field(json, "AccessKeyId");
  c.secret_access_key = Field(json, "SecretAccessKey");
  c.session_token = Field(json, "Token");
  for (const auto& [name, value] : {std::pair{"AccessKeyId", &c.access_key_id},
                                    {"SecretAccessKey", &c.secret_access_key},
                                    {"Token", &c.session_token}}) {
    if (value->empty()) throw bad(std::string("the answer has no ") + name);
  }
  const std::string expiration = Field(json, "Expiration");
  if (const auto ms = ParseUtcMs(expiration)) {
    c.expiration = std::chrono::system_clock::time_point(std::chrono::milliseconds(*ms));
  }
  if (!c.expiration) {
    throw bad("the answer's Expiration '" + expiration +
              "' is not a time like 2026-01-31T12:00:00Z");
  }
  return c;
}

S3Credentials ImdsClient::Fetch() {
  std::lock_guard lock(mu_);
  try {
    return FetchOnce();
  } catch (const bkp::Error&) {
    // Once more after a pause, for a service that was restarting; not
    // longer: a backup waits on this.
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  return FetchOnce();
}

}  // namespace repo::s3
