// Static and refreshing credential sources (see s3_credentials.h).
#include "repo/s3/s3_credentials.h"

#include <algorithm>
#include <exception>

#include "bkp/bkp_plugin.hpp"
#include "repo/utc_time.h"

namespace repo::s3 {
namespace {

using std::chrono::minutes;
using std::chrono::seconds;

// How many past secrets Redact still knows: credentials that rotate every
// hour leave a handful in a long backup; short-lived ones would grow the
// list for ever.
constexpr size_t kRememberedSecrets = 16;

std::string ReplaceAll(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t at; (at = text.find(secret)) != std::string::npos;)
    text.replace(at, secret.size(), "***");
  return text;
}

class StaticSource final : public CredentialSource {
 public:
  StaticSource(S3Credentials credentials, std::string describe)
      : credentials_(std::move(credentials)), describe_(std::move(describe)) {}
  S3Credentials Current() override { return credentials_; }
  std::string Describe() const override { return describe_; }
  std::string Redact(std::string text) const override {
    return ReplaceAll(ReplaceAll(std::move(text), credentials_.secret_access_key),
                      credentials_.session_token);
  }

 private:
  const S3Credentials credentials_;
  const std::string describe_;
};

}  // namespace

CredentialSource::~CredentialSource() = default;

std::shared_ptr<CredentialSource> StaticCredentials(S3Credentials credentials,
                                                    std::string describe) {
  return std::make_shared<StaticSource>(std::move(credentials), std::move(describe));
}

RefreshingCredentials::RefreshingCredentials(FetchFn fetch, std::string describe, WarnFn warn)
    : fetch_(std::move(fetch)), describe_(std::move(describe)), warn_(std::move(warn)) {
  S3Credentials first = fetch_();
  std::lock_guard lock(mu_);
  Install(std::move(first), Clock::now());
}

void RefreshingCredentials::Install(S3Credentials fresh, Clock::time_point now) {
  for (const std::string* secret : {&fresh.secret_access_key, &fresh.session_token}) {
    if (secret->empty() || std::find(secrets_.begin(), secrets_.end(), *secret) != secrets_.end()) {
      continue;
    }
    if (secrets_.size() == kRememberedSecrets) secrets_.erase(secrets_.begin());
    secrets_.push_back(*secret);
  }
  current_ = std::move(fresh);
  if (!current_.expiration) {
    refresh_at_ = usable_until_ = Clock::time_point::max();
    return;
  }
  const Clock::time_point expiry = *current_.expiration;
  const Clock::duration left = std::max(expiry - now, Clock::duration::zero());
  refresh_at_ = expiry - std::min<Clock::duration>(minutes(5), left / 2);
  usable_until_ = expiry - std::min<Clock::duration>(minutes(1), left / 8);
}

S3Credentials RefreshingCredentials::Current() {
  std::unique_lock lock(mu_);
  while (true) {
    const Clock::time_point now = Clock::now();
    const bool usable = now < usable_until_;
    if (usable && now < refresh_at_) return current_;
    if (!usable && !expired_error_.empty() && now - expired_error_at_ < seconds(1)) {
      throw bkp::Error(BKP_E_AUTH, expired_error_);
    }
    if (fetching_) {
      // Another thread is fetching: sign with what we have while it holds.
      if (usable) return current_;
      fetched_.wait(lock);
      continue;
    }
    fetching_ = true;
    lock.unlock();
    std::optional<S3Credentials> fresh;
    std::string error;
    try {
      fresh = fetch_();
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    fetching_ = false;
    fetched_.notify_all();
    const Clock::time_point after = Clock::now();
    if (fresh) {
      Install(std::move(*fresh), after);
      if (after < usable_until_) return current_;
      error = "the credentials it gave expire at " + FormatUtc(*current_.expiration);
    } else if (after < usable_until_) {
      const auto left = usable_until_ - after;
      refresh_at_ = after + std::min<Clock::duration>(seconds(30), left / 2);
      if (warn_) {
        warn_(RedactLocked(
            "S3 credentials from " + describe_ + " could not be refreshed (" + error +
            "); the current ones stay in use until " + FormatUtc(*current_.expiration) +
            ", tried again in " +
            std::to_string(std::chrono::duration_cast<seconds>(refresh_at_ - after).count()) +
            " s"));
      }
      return current_;
    }
    const std::string expired =
        current_.expiration ? " expired at " + FormatUtc(*current_.expiration) : " are unusable";
    expired_error_ = RedactLocked("the temporary S3 credentials from " + describe_ + expired +
                                  " and could not be refreshed: " + error);
    expired_error_at_ = after;
    throw bkp::Error(BKP_E_AUTH, expired_error_);
  }
}

std::string RefreshingCredentials::Redact(std::string text) const {
  std::lock_guard lock(mu_);
  return RedactLocked(std::move(text));
}

std::string RefreshingCredentials::RedactLocked(std::string text) const {
  for (const auto& secret : secrets_) text = ReplaceAll(std::move(text), secret);
  return text;
}

}  // namespace repo::s3
