// CredentialSource: the keys that sign every S3 request, asked for once per
// request, so that temporary credentials (instance metadata, a profile's
// session) can be replaced while a long backup runs. Where they come from
// is decided once, when the driver is built (s3_credential_chain.h).
//
// Secrets: no Describe() and no message of this module carries a secret
// key or a session token; Redact removes them from any other text.
// Thread-safety: every method of a CredentialSource may be called from any
// number of threads at once (parallel part uploads all ask for them).
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace repo::s3 {

struct S3Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  // empty: none
  // When temporary credentials stop working; nullopt: never.
  std::optional<std::chrono::system_clock::time_point> expiration;
};

class CredentialSource {
 public:
  virtual ~CredentialSource();
  // Credentials good to sign a request now. Temporary ones are refreshed
  // before they expire. Throws bkp::Error(BKP_E_AUTH) when none valid can
  // be had (expired, and the refresh failed), saying where they came from.
  virtual S3Credentials Current() = 0;
  // Where they come from, e.g. "profile 'backup' in /root/.aws/credentials":
  // never a secret.
  virtual std::string Describe() const = 0;
  // `text` with every secret this source has handed out replaced by "***".
  // Never fetches anything.
  virtual std::string Redact(std::string text) const = 0;
};

// Credentials that never change (settings, environment, a profile's keys).
std::shared_ptr<CredentialSource> StaticCredentials(S3Credentials credentials,
                                                    std::string describe);

// Called with a warning line (no secret in it) for the operator's log.
using WarnFn = std::function<void(const std::string&)>;
// Fetches temporary credentials; throws bkp::Error saying why it cannot.
using FetchFn = std::function<S3Credentials()>;

// Temporary credentials from `fetch`, fetched again before they expire:
// once less than min(5 minutes, half of what they had left when fetched)
// remains. While one thread fetches, the others keep signing with the
// credentials in hand. A fetch that fails while those still hold is
// reported through `warn` and tried again later (after half of what then
// remains, at most 30 s); once they have expired, Current() throws
// BKP_E_AUTH naming the source, the expiry and the fetch's error (the same
// error, without fetching again, for a second after a failed fetch).
// Credentials count as expired min(1 minute, an eighth of their lifetime)
// before their Expiration, so a request signed now still arrives in time.
class RefreshingCredentials final : public CredentialSource {
 public:
  // Fetches the first credentials at once; throws what `fetch` throws.
  RefreshingCredentials(FetchFn fetch, std::string describe, WarnFn warn);

  S3Credentials Current() override;
  std::string Describe() const override { return describe_; }
  std::string Redact(std::string text) const override;

 private:
  using Clock = std::chrono::system_clock;
  void Install(S3Credentials fresh, Clock::time_point now);  // mu_ held
  std::string RedactLocked(std::string text) const;          // mu_ held

  const FetchFn fetch_;
  const std::string describe_;
  const WarnFn warn_;
  mutable std::mutex mu_;
  std::condition_variable fetched_;
  bool fetching_ = false;
  S3Credentials current_;
  Clock::time_point refresh_at_;  // when to fetch again
  Clock::time_point usable_until_;
  // The last failure once the credentials had expired, and when: the
  // callers of the next second get it without another fetch (a backup's
  // parallel uploads would otherwise each wait for one in turn).
  std::string expired_error_;
  Clock::time_point expired_error_at_;
  // Every secret handed out so far, for Redact (an old one may still sit
  // in a message built from a request signed with it).
  std::vector<std::string> secrets_;
};

}  // namespace repo::s3
