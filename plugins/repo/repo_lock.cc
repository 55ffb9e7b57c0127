// Repository locks (see repo_lock.h).
#include "repo/repo_lock.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <random>

#include <nlohmann/json.hpp>

#include "bkp/bkp_plugin.hpp"
#include "repo/utc_time.h"

namespace repo {
namespace {

constexpr const char* kLockPrefix = "locks/";
constexpr const char* kLockFormat = "eventstore-backup-lock";

std::string ThisHost() {
  char name[256] = "";
  if (::gethostname(name, sizeof name - 1) != 0) return "unknown";
  return name;
}

std::string RandomId() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  char id[40];
  std::snprintf(id, sizeof id, "%016llx%016llx", static_cast<unsigned long long>(rng()),
                static_cast<unsigned long long>(rng()));
  return id;
}

std::string Ago(int64_t ms) {
  const int64_t s = std::max<int64_t>(0, ms / 1000);
  if (s < 120) return std::to_string(s) + " s";
  if (s < 7200) return std::to_string(s / 60) + " min";
  return std::to_string(s / 3600) + " h";
}

std::chrono::milliseconds EnvMs(const char* name, std::chrono::milliseconds fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const long long ms = std::strtoll(value, &end, 10);
  if (*end != '\0' || ms < 0) return fallback;
  return std::chrono::milliseconds(ms);
}

std::string Encode(const LockRecord& r) {
  return nlohmann::json{{"format", kLockFormat},
                        {"version", 1},
                        {"id", r.id},
                        {"exclusive", r.exclusive},
                        {"operation", r.operation},
                        {"host", r.host},
                        {"pid", r.pid},
                        {"owner", r.owner},
                        {"since_ms", r.since_ms},
                        {"refreshed_ms", r.refreshed_ms}}
             .dump(2) +
         "\n";
}

LockRecord Decode(StorageDriver& driver, const ObjectInfo& object) {
  LockRecord r;
  r.key = object.key;
  r.modified_ms = object.modified_ms;
  try {
    const auto doc = nlohmann::json::parse(driver.GetSmall(object.key));
    if (doc.value("format", "") != kLockFormat) {
      r.unreadable = "not a lock object";
      return r;
    }
    r.id = doc.at("id").get<std::string>();
    r.exclusive = doc.at("exclusive").get<bool>();
    r.operation = doc.at("operation").get<std::string>();
    r.host = doc.at("host").get<std::string>();
    r.pid = doc.at("pid").get<int64_t>();
    r.owner = doc.value("owner", "");
    r.since_ms = doc.at("since_ms").get<int64_t>();
    r.refreshed_ms = doc.at("refreshed_ms").get<int64_t>();
  } catch (const nlohmann::json::exception& e) {
    r.unreadable = std::string("not a valid lock (") + e.what() + ")";
  } catch (const bkp::Error& e) {
    // Removed between the listing and the read: released, no conflict.
    if (e.status() == BKP_E_NOT_FOUND) {
      r.unreadable = "gone";
      return r;
    }
    throw;
  }
  return r;
}

bool ProcessGone(int64_t pid) {
  if (pid <= 0) return false;
  return ::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace

LockTimings LockTimings::FromEnvironment() {
  LockTimings t;
  t.refresh = EnvMs("BKP_TEST_LOCK_REFRESH_MS", t.refresh);
  t.stale = EnvMs("BKP_TEST_LOCK_STALE_MS", t.stale);
  return t;
}

std::string StaleReason(const LockRecord& lock, int64_t now_ms, const LockTimings& timings) {
  const int64_t stale_ms = timings.stale.count();
  if (!lock.unreadable.empty()) {
    // Only its age tells: a lock being written is never unreadable here
    // (objects appear whole), but a damaged one must not block forever.
    if (lock.modified_ms > 0 && now_ms - lock.modified_ms >= stale_ms) {
      return lock.unreadable + ", written " + Ago(now_ms - lock.modified_ms) + " ago";
    }
    return "";
  }
  if (lock.host == ThisHost() && ProcessGone(lock.pid)) {
    return "its process " + std::to_string(lock.pid) + " on this host is gone";
  }
  if (now_ms - lock.refreshed_ms >= stale_ms) {
    return "not refreshed for " + Ago(now_ms - lock.refreshed_ms) + " (stale after " +
           Ago(stale_ms) + ")";
  }
  return "";
}

std::vector<LockRecord> ListLocks(StorageDriver& driver) {
  std::vector<LockRecord> out;
  for (const auto& object : driver.List(kLockPrefix)) {
    LockRecord r = Decode(driver, object);
    if (r.unreadable != "gone") out.push_back(std::move(r));
  }
  return out;
}

std::string DescribeLock(const LockRecord& lock, int64_t now_ms) {
  if (!lock.unreadable.empty()) return "'" + lock.key + "' (" + lock.unreadable + ")";
  return lock.operation + " on host '" + lock.host + "' (pid " + std::to_string(lock.pid) + ", " +
         (lock.exclusive ? "exclusive" : "shared") + " lock " + lock.key + ") since " +
         FormatUtc(lock.since_ms) + ", refreshed " + Ago(now_ms - lock.refreshed_ms) + " ago";
}

std::vector<LockStatus> InspectLocks(StorageDriver& driver, const LockTimings& timings,
                                     bool remove_stale) {
  std::vector<LockStatus> out;
  const int64_t now = NowMs();
  for (auto& lock : ListLocks(driver)) {
    LockStatus status{std::move(lock), "", false};
    status.stale = StaleReason(status.lock, now, timings);
    if (remove_stale && !status.stale.empty()) {
      driver.Remove({status.lock.key});
      status.removed = true;
    }
    out.push_back(std::move(status));
  }
  return out;
}

RepositoryLock::RepositoryLock(StorageDriver& driver, Mode mode, std::string operation,
                               std::string owner, LockTimings timings, std::string unlock_hint)
    : driver_(driver), timings_(timings), unlock_hint_(std::move(unlock_hint)) {
  record_.id = RandomId();
  record_.key = kLockPrefix + record_.id + ".json";
  record_.exclusive = mode == Mode::kExclusive;
  record_.operation = std::move(operation);
  record_.host = ThisHost();
  record_.pid = ::getpid();
  record_.owner = std::move(owner);
  record_.since_ms = NowMs();
  // Refuse before writing anything when the conflict is already there.
  ThrowOnConflict(false);
  Write();
  try {
    ThrowOnConflict(true);
  } catch (...) {
    try {
      driver_.Remove({record_.key});
    } catch (const bkp::Error&) {
    }
    throw;
  }
  last_refresh_ok_ms_ = record_.refreshed_ms;
  refresher_ = std::thread([this] { Refresh(); });
}

RepositoryLock::~RepositoryLock() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (refresher_.joinable()) refresher_.join();
  try {
    driver_.Remove({record_.key});
  } catch (...) {
  }
}

void RepositoryLock::Write() {
  record_.refreshed_ms = NowMs();
  driver_.PutSmall(record_.key, Encode(record_));
}

void RepositoryLock::ThrowOnConflict(bool created) {
  const int64_t now = NowMs();
  std::vector<LockRecord> live;
  std::vector<std::pair<LockRecord, std::string>> stale;
  for (auto& other : ListLocks(driver_)) {
    if (other.key == record_.key) continue;
    if (other.unreadable.empty() && other.owner == record_.owner) continue;
    // An unreadable lock may be anything: it conflicts with everything.
    if (!record_.exclusive && other.unreadable.empty() && !other.exclusive) continue;
    std::string reason = StaleReason(other, now, timings_);
    if (reason.empty()) {
      live.push_back(std::move(other));
    } else {
      stale.emplace_back(std::move(other), std::move(reason));
    }
  }
  const size_t total = live.size() + stale.size();
  if (total == 0) return;
  // A live holder is the one to wait for; stale ones only need unlock.
  const LockRecord& first = live.empty() ? stale.front().first : live.front();
  std::string message = driver_.Describe() + " is locked by " + DescribeLock(first, now);
  if (total > 1) {
    message += " and " + std::to_string(total - 1) + " more lock(s)";
    if (!live.empty() && !stale.empty()) {
      message += " (" + std::to_string(stale.size()) + " of them stale)";
    }
  }
  message += ": " + record_.operation + " needs " +
             (record_.exclusive ? "the repository to itself" : "it free of deleting operations");
  if (!live.empty()) {
    message += "; wait until that operation ends, then retry";
  } else {
    message += "; that lock is stale (" + stale.front().second + ")" +
               (total > 1 ? ", and so are the others" : "") +
               ": if no such operation runs any more, remove " + (total > 1 ? "them" : "it") +
               " with " + unlock_hint_ + ", then retry";
  }
  if (created) message += " (it was taken while this lock was being written)";
  throw bkp::Error(BKP_E_BUSY, message);
}

void RepositoryLock::Refresh() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    wake_.wait_for(lock, timings_.refresh, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    std::string lost;
    bool ok = false;
    try {
      // Never bring back a lock someone removed: a stale-lock removal may
      // have let an exclusive operation in since.
      if (!driver_.Stat(record_.key)) {
        lost = "its lock object " + record_.key + " was removed while it ran";
      } else {
        Write();
        ok = true;
      }
    } catch (const std::exception&) {
      // Tried again next time; CheckHeld tells whether it has come too late.
    }
    lock.lock();
    if (ok) last_refresh_ok_ms_ = record_.refreshed_ms;
    if (!lost.empty() && lost_.empty()) lost_ = lost;
  }
}

void RepositoryLock::CheckHeld() {
  std::string lost;
  int64_t last_ok = 0;
  {
    std::lock_guard lock(mu_);
    lost = lost_;
    last_ok = last_refresh_ok_ms_;
  }
  const int64_t now = NowMs();
  if (lost.empty() && now - last_ok >= timings_.stale.count()) {
    lost = "its lock " + record_.key + " could not be refreshed for " + Ago(now - last_ok) +
           ", so others may have taken it as stale";
  }
  if (lost.empty() && !driver_.Stat(record_.key)) {
    lost = "its lock object " + record_.key + " was removed while it ran";
  }
  if (!lost.empty()) {
    throw bkp::Error(BKP_E_BUSY, record_.operation + " on " + driver_.Describe() +
                                     " lost its repository lock: " + lost +
                                     "; an exclusive operation may have deleted what it stored, "
                                     "so nothing is published: run it again");
  }
}

}  // namespace repo
