// S3 operations with retries (see s3_client.h).
#include "repo/s3/s3_client.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>

#include "repo/s3/s3_errors.h"
#include "repo/s3/s3_xml.h"
#include "repo/utc_time.h"

namespace repo::s3 {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kFirstBackoff{100};
constexpr milliseconds kMaxBackoff{5000};
// S3 takes at most 1000 keys in one batch delete.
constexpr size_t kDeleteBatch = 1000;

milliseconds Backoff(int attempt) {
  // Full jitter: anywhere between 0 and the exponential step, so clients
  // that failed together do not retry together.
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t step =
      std::min<int64_t>(kMaxBackoff.count(), kFirstBackoff.count() << std::min(attempt, 16));
  return milliseconds(std::uniform_int_distribution<int64_t>(step / 4, step)(rng));
}

// "2019-10-08T22:41:32.000Z" as ms since the epoch; 0 (unknown) if
// unreadable.
int64_t ParseIsoTime(const std::string& text) { return ParseUtcMs(text).value_or(0); }

// A config built by hand carries its keys: they sign every request.
S3Config WithCredentials(S3Config config) {
  if (!config.credentials) {
    config.credentials = StaticCredentials(
        {config.access_key_id, config.secret_access_key, config.session_token, std::nullopt},
        "access key '" + config.access_key_id + "' of the config");
  }
  return config;
}

}  // namespace

struct S3Client::Call {
  std::string what;  // for messages: "PUT 'objects/ab/...'"
  HttpRequest request;
  // Some answers are 200 with an <Error> document (CompleteMultipartUpload).
  bool error_in_body = false;
  // A status that is an answer for this call, not a failure (HEAD's 404).
  long also_answer = 0;
};

S3Client::S3Client(S3Config config) : config_(WithCredentials(std::move(config))), http_(config_) {}

// Path style: host "s3.example.com:9000", path "/bucket/key". Virtual
// host: host "bucket.s3.example.com:9000", path "/key". Either way the
// path and query are built here once, in canonical form, and sent and
// signed as they are.
HttpRequest S3Client::BucketRequest(const char* method, const Pairs& query) const {
  HttpRequest r;
  r.method = method;
  r.host = config_.path_style ? config_.Authority() : config_.bucket + "." + config_.Authority();
  r.path = config_.path_style ? "/" + UriEncode(config_.bucket, false) : "/";
  r.query = CanonicalQuery(query);
  return r;
}

HttpRequest S3Client::ObjectRequest(const char* method, const std::string& key,
                                    const Pairs& query) const {
  HttpRequest r = BucketRequest(method, query);
  if (config_.path_style) r.path += "/";
  r.path += UriEncode(FullKey(key), true);
  return r;
}

// What makes the server encrypt an object it stores: sent (and signed)
// with each PUT of a whole object and each CreateMultipartUpload; parts
// inherit it from their upload.
void S3Client::AddSse(HttpRequest* request) const {
  if (config_.sse.empty()) return;
  request->headers.emplace_back("x-amz-server-side-encryption", config_.sse);
  if (!config_.sse_kms_key_id.empty()) {
    request->headers.emplace_back("x-amz-server-side-encryption-aws-kms-key-id",
                                  config_.sse_kms_key_id);
  }
}

HttpResponse S3Client::Perform(const Call& call) {
  const auto start = Clock::now();
  for (int attempt = 1;; ++attempt) {
    HttpResponse r = http_.Perform(call.request);
    if (r.ok() && !(call.error_in_body && !XmlElements(r.body, "Error").empty())) return r;
    if (r.transport == 0 && call.also_answer != 0 && r.status == call.also_answer) return r;
    if (r.ok()) r.status = 500;  // the <Error> in the body says what; it is retried like a 500
    const auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    const milliseconds pause = Backoff(attempt);
    if (!Retryable(r) || elapsed + pause > config_.retry_deadline) {
      throw ToError(config_, call.what, r, attempt, elapsed);
    }
    std::this_thread::sleep_for(pause);
  }
}

void S3Client::Put(const std::string& key, std::string_view body) {
  Call call{"PUT '" + key + "'", ObjectRequest("PUT", key), false};
  call.request.body = body;
  AddSse(&call.request);
  Perform(call);
}

std::optional<uint64_t> S3Client::Head(const std::string& key) {
  // A HEAD answer has no body: 404 is no such key (a missing bucket shows
  // in the listing every repository opens with).
  Call call{"HEAD '" + key + "'", ObjectRequest("HEAD", key), false, 404};
  HttpResponse r;
  try {
    r = Perform(call);
  } catch (const bkp::Error& e) {
    if (e.status() == BKP_E_AUTH || e.status() == BKP_E_INVALID_ARGUMENT) {
      // Nor does it say why it was refused; the same GET's answer does
      // (InvalidAccessKeyId, SignatureDoesNotMatch, a wrong region, ...).
      char byte;
      HttpRequest get = ObjectRequest("GET", key);
      get.headers = {{"Range", "bytes=0-0"}};
      get.into = &byte;
      get.capacity = 1;
      const HttpResponse why = http_.Perform(get);
      if (!why.ok() && XmlText(why.body, "Code")) {
        throw ToError(config_, call.what, why, 1, milliseconds(0));
      }
    }
    throw;
  }
  if (r.status == 404) return std::nullopt;
  if (!r.content_length) {
    throw bkp::Error(BKP_E_IO, call.what + " in " + Describe() + ": no Content-Length");
  }
  return r.content_length;
}

void S3Client::GetRange(const std::string& key, uint64_t offset, char* buf, size_t len) {
  if (len == 0) return;
  Call call{
      "GET '" + key + "' bytes " + std::to_string(offset) + "-" + std::to_string(offset + len),
      ObjectRequest("GET", key), false};
  call.request.headers = {
      {"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + len - 1)}};
  call.request.into = buf;
  call.request.capacity = len;
  const HttpResponse r = Perform(call);
  if (r.received != len) {
    throw bkp::Error(BKP_E_IO, call.what + " in " + Describe() + ": " + std::to_string(r.received) +
                                   " bytes arrived, " + std::to_string(len) + " asked for (HTTP " +
                                   std::to_string(r.status) + ")");
  }
}

std::vector<ObjectInfo> S3Client::List(const std::string& prefix) {
  std::vector<ObjectInfo> out;
  std::string token;
  do {
    Pairs params = {{"list-type", "2"}, {"prefix", FullKey(prefix)}};
    if (!token.empty()) params.emplace_back("continuation-token", token);
    Call call{"LIST '" + prefix + "'", BucketRequest("GET", params), false};
    const HttpResponse r = Perform(call);
    for (const auto& entry : XmlElements(r.body, "Contents")) {
      const std::string key = XmlText(entry, "Key").value_or("");
      if (key.rfind(config_.prefix, 0) != 0) continue;
      out.push_back({key.substr(config_.prefix.size()),
                     std::stoull(XmlText(entry, "Size").value_or("0")),
                     ParseIsoTime(XmlText(entry, "LastModified").value_or(""))});
    }
    const bool truncated = XmlText(r.body, "IsTruncated").value_or("false") == "true";
    token = truncated ? XmlText(r.body, "NextContinuationToken").value_or("") : "";
    if (truncated && token.empty()) {
      throw bkp::Error(BKP_E_IO, call.what + " in " + Describe() +
                                     ": a truncated listing without a continuation token");
    }
  } while (!token.empty());
  std::sort(out.begin(), out.end(),
            [](const ObjectInfo& a, const ObjectInfo& b) { return a.key < b.key; });
  return out;
}

void S3Client::Delete(const std::vector<std::string>& keys) {
  for (size_t from = 0; from < keys.size(); from += kDeleteBatch) {
    const size_t to = std::min(keys.size(), from + kDeleteBatch);
    std::string body = "<Delete><Quiet>true</Quiet>";
    for (size_t i = from; i < to; ++i) {
      body += "<Object><Key>" + XmlEscape(FullKey(keys[i])) + "</Key></Object>";
    }
    body += "</Delete>";
    Call call{"DELETE of " + std::to_string(to - from) + " objects from '" + keys[from] + "'",
              BucketRequest("POST", {{"delete", ""}}), false};
    call.request.headers = {{"Content-MD5", Md5Base64(body)}};
    call.request.body = body;
    const HttpResponse r = Perform(call);
    // Quiet mode lists only the keys that failed.
    const auto errors = XmlElements(r.body, "Error");
    if (!errors.empty()) {
      throw bkp::Error(
          BKP_E_IO, config_.Redact(std::to_string(errors.size()) + " object(s) of " + Describe() +
                                   " could not be deleted, first '" +
                                   XmlText(errors.front(), "Key").value_or("?") +
                                   "': " + XmlText(errors.front(), "Code").value_or("") + " " +
                                   XmlText(errors.front(), "Message").value_or("")));
    }
  }
}

std::string S3Client::CreateUpload(const std::string& key) {
  Call call{"CreateMultipartUpload '" + key + "'", ObjectRequest("POST", key, {{"uploads", ""}}),
            false};
  AddSse(&call.request);
  const HttpResponse r = Perform(call);
  auto id = XmlText(r.body, "UploadId");
  if (!id || id->empty()) {
    throw bkp::Error(BKP_E_IO, call.what + " in " + Describe() + ": the answer has no UploadId");
  }
  return *id;
}

std::string S3Client::UploadPart(const std::string& key, const std::string& upload_id,
                                 uint32_t number, std::string_view body) {
  Call call{
      "UploadPart " + std::to_string(number) + " of '" + key + "'",
      ObjectRequest("PUT", key, {{"partNumber", std::to_string(number)}, {"uploadId", upload_id}}),
      false};
  call.request.body = body;
  const HttpResponse r = Perform(call);
  if (r.etag.empty()) {
    throw bkp::Error(BKP_E_IO, call.what + " in " + Describe() + ": the answer has no ETag");
  }
  return r.etag;
}

void S3Client::CompleteUpload(const std::string& key, const std::string& upload_id,
                              const std::vector<std::string>& etags, uint64_t size) {
  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" +
            XmlEscape(etags[i]) + "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  Call call{"CompleteMultipartUpload '" + key + "'",
            ObjectRequest("POST", key, {{"uploadId", upload_id}}), true};
  call.request.body = body;
  try {
    Perform(call);
  } catch (const bkp::Error&) {
    // The server may have completed it and the answer been lost: then the
    // retry finds no such upload, and the object is there, whole.
    if (Head(key) == size) return;
    throw;
  }
}

bool S3Client::AbortUpload(const std::string& key, const std::string& upload_id) noexcept {
  try {
    return http_.Perform(ObjectRequest("DELETE", key, {{"uploadId", upload_id}})).ok();
  } catch (...) {
    return false;
  }
}

std::optional<std::vector<PendingUpload>> S3Client::ListUploads() {
  std::vector<PendingUpload> out;
  std::string key_marker, id_marker;
  while (true) {
    Pairs params = {{"uploads", ""}, {"prefix", config_.prefix}};
    if (!key_marker.empty()) params.emplace_back("key-marker", key_marker);
    if (!id_marker.empty()) params.emplace_back("upload-id-marker", id_marker);
    Call call{"ListMultipartUploads", BucketRequest("GET", params), false, 501};
    const HttpResponse r = Perform(call);
    if (r.status == 501) return std::nullopt;  // NotImplemented
    for (const auto& u : XmlElements(r.body, "Upload")) {
      const std::string key = XmlText(u, "Key").value_or("");
      if (key.rfind(config_.prefix, 0) != 0) continue;
      out.push_back({key.substr(config_.prefix.size()), XmlText(u, "UploadId").value_or(""),
                     ParseIsoTime(XmlText(u, "Initiated").value_or(""))});
    }
    if (XmlText(r.body, "IsTruncated").value_or("false") != "true") break;
    key_marker = XmlText(r.body, "NextKeyMarker").value_or("");
    id_marker = XmlText(r.body, "NextUploadIdMarker").value_or("");
    if (key_marker.empty() && id_marker.empty()) break;
  }
  return out;
}

}  // namespace repo::s3
