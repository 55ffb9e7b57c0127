// BackupCoordinator and the plain provider calls behind it. One mutex (mu_)
// guards the operation slot, every snapshot field and the set of providers
// a call is in; it is never held across a call into a plugin, so a progress
// callback (which takes it) can always run.
#include "backup/coordinator.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <ctime>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "backup/backup_runner.h"
#include "plugin_host/abi_status.h"
#include "plugin_host/plugin_library.h"
#include "plugin_host/provider_call_journal.h"
#include "util/human_format.h"
#include "util/utc_time.h"

namespace hoststub {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

constexpr size_t kErrorBufferSize = 2048;
// How long a list waits for another call into the same provider (another
// list) before it gives up with Busy.
constexpr std::chrono::seconds kListWait{5};

std::string Text(const char* text) { return text != nullptr ? text : ""; }

BackupListing ToListing(const bkp_backup_info& info) {
  BackupListing listing;
  listing.id = Text(info.id);
  listing.type = info.type;
  listing.parent_id = Text(info.parent_id);
  listing.created_ms = info.created_ms;
  listing.bytes = info.bytes;
  listing.stored_bytes = info.stored_bytes;
  listing.files = info.files;
  listing.details = Text(info.details);
  return listing;
}

// C callbacks: nothing may unwind through the plugin's frames.
bkp_status CollectListing(void* user, const bkp_backup_info* info) {
  try {
    static_cast<std::vector<BackupListing>*>(user)->push_back(ToListing(CopyVersioned(info)));
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

bkp_status CollectProblem(void* user, const bkp_verify_problem* given) {
  try {
    const bkp_verify_problem problem = CopyVersioned(given);
    static_cast<std::vector<VerifyProblem>*>(user)->push_back(
        {problem.status, Text(problem.backup_id), Text(problem.file), Text(problem.message)});
    return BKP_OK;
  } catch (...) {
    return BKP_E_INTERNAL;
  }
}

std::string ConfiguredNames(const ProviderRegistry& registry) {
  std::string names;
  for (const auto& provider : registry.providers()) {
    names += fmt::format("{}'{}'", names.empty() ? "" : ", ", provider->name());
  }
  return names;
}

OperationState FinalState(const Status& status, bool cancel_requested) {
  if (status.ok()) return OperationState::kSucceeded;
  // A plugin that stops on request but reports it as, say, an I/O error still
  // ended because the operator asked.
  if (status.code() == Status::Code::kCancelled || cancel_requested) {
    return OperationState::kCancelled;
  }
  return OperationState::kFailed;
}

Status CheckRetention(const LoadedProvider& provider, const RetentionPolicy& policy) {
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_EXPIRE,
                                             "apply a retention policy"));
  if (policy.keep_last == 0 && policy.keep_newer_than.count() <= 0) {
    return Status::InvalidArgument(fmt::format(
        "retention for provider '{}' needs keep_last or keep_newer_than (with neither, every "
        "backup but the newest would be removed)",
        provider.name()));
  }
  return Status::OK();
}

}  // namespace

const char* OperationKindName(OperationKind kind) {
  switch (kind) {
    case OperationKind::kBackup:
      return "backup";
    case OperationKind::kVerify:
      return "verify";
    case OperationKind::kDelete:
      return "delete";
    case OperationKind::kExpire:
      return "expire";
  }
  return "unknown";
}

const char* OperationStateName(OperationState state) {
  switch (state) {
    case OperationState::kRunning:
      return "running";
    case OperationState::kSucceeded:
      return "succeeded";
    case OperationState::kFailed:
      return "failed";
    case OperationState::kCancelled:
      return "cancelled";
  }
  return "unknown";
}

std::string BackupPhaseName(uint32_t phase) {
  switch (phase) {
    case 0:
      return "starting";
    case BKP_PHASE_CONTROL_DB:
      return "control-db";
    case BKP_PHASE_LOG:
      return "log";
    case BKP_PHASE_EVENTS:
      return "events";
    case BKP_PHASE_SNAPSHOTS:
      return "snapshots";
    case BKP_PHASE_FINISHING:
      return "finishing";
    default:
      return fmt::format("phase-{}", phase);
  }
}

std::string BackupTypeName(uint32_t type) {
  switch (type) {
    case BKP_BACKUP_FULL:
      return "full";
    case BKP_BACKUP_INCREMENTAL:
      return "incremental";
    default:
      return fmt::format("type-{}", type);
  }
}

std::string FormatUtc(SystemClock::time_point time) {
  const auto since_epoch = time.time_since_epoch();
  return FormatUtc(std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count(),
                   UtcFormat::kIso8601);
}

std::string OperationSnapshot::Describe() const {
  std::string text =
      fmt::format("operation {} ({} via provider '{}'", id, OperationKindName(kind), provider);
  if (!backup_id.empty() && kind != OperationKind::kBackup) {
    text += fmt::format(" of backup '{}'", backup_id);
  }
  text += fmt::format(", started {}", FormatUtc(started));
  if (running()) {
    text += fmt::format(", phase {}", BackupPhaseName(phase));
    if (bytes_total > 0) {
      text += fmt::format(", {} of {}", FormatBytes(bytes_done), FormatBytes(bytes_total));
    }
    if (files_total > 0) text += fmt::format(", {} of {} files", files_done, files_total);
    if (cancel_requested) text += ", cancel requested";
  } else {
    text += fmt::format(", {} after {:.1f} s", OperationStateName(state),
                        static_cast<double>(elapsed.count()) / 1000.0);
  }
  return text + ")";
}

// ---- provider calls ---------------------------------------------------------

Result<std::vector<BackupListing>> ListProviderBackups(const LoadedProvider& provider) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_LIST, "list backups"));
  std::vector<BackupListing> listings;
  std::array<char, kErrorBufferSize> err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "list");
    return provider.table().list(provider.instance(), CollectListing, &listings, err.data(),
                                 err.size());
  }();
  if (rc != BKP_OK) return ProviderFailure(provider.name(), "list", rc, err.data(), err.size());
  return listings;
}

Result<VerifyReport> VerifyProviderBackups(const LoadedProvider& provider,
                                           std::string_view backup_id, bkp_operation* op) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_VERIFY, "verify backups"));
  const std::string id(backup_id);
  VerifyReport report;
  std::array<char, kErrorBufferSize> err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "verify");
    return provider.table().verify(provider.instance(), id.empty() ? nullptr : id.c_str(), op,
                                   CollectProblem, &report.problems, err.data(), err.size());
  }();
  if (rc == BKP_OK) return report;
  const std::string what = id.empty() ? "verify of all backups" : "verify of backup '" + id + "'";
  // CORRUPT is how a provider says "I found problems": the findings are the
  // result. Any other code means the verify could not do its job.
  if (rc != BKP_E_CORRUPT || (op != nullptr && op->cancel_requested.load())) {
    return ProviderFailure(provider.name(), what, rc, err.data(), err.size());
  }
  report.summary =
      fmt::format("provider '{}': {}", provider.name(), ProviderMessage(err.data(), err.size()));
  if (report.problems.empty()) {
    // Reported corrupt without saying where: keep the message as the problem.
    report.problems.push_back({rc, id, "", ProviderMessage(err.data(), err.size())});
  }
  return report;
}

Status DeleteProviderBackup(const LoadedProvider& provider, std::string_view backup_id) {
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider.name(), provider.table(), BKP_CAP_REMOVE, "delete backups"));
  if (backup_id.empty()) {
    return Status::InvalidArgument(
        fmt::format("delete via provider '{}' needs a backup id (list them with `hostctl backup "
                    "list --provider {}`)",
                    provider.name(), provider.name()));
  }
  const std::string id(backup_id);
  std::array<char, kErrorBufferSize> err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "remove");
    return provider.table().remove(provider.instance(), id.c_str(), err.data(), err.size());
  }();
  if (rc != BKP_OK)
    return ProviderFailure(provider.name(), "delete of backup '" + id + "'", rc, err.data(),
                           err.size());
  return Status::OK();
}

Result<std::vector<BackupListing>> ExpireProviderBackups(const LoadedProvider& provider,
                                                         const RetentionPolicy& policy,
                                                         SystemClock::time_point now) {
  HOSTSTUB_RETURN_IF_ERROR(CheckRetention(provider, policy));
  bkp_retention retention{};
  retention.struct_size = sizeof retention;
  retention.keep_last = policy.keep_last;
  if (policy.keep_newer_than.count() > 0) {
    const int64_t now_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
    // 0 would switch the age rule off: an age reaching back before the epoch
    // still keeps everything.
    retention.keep_newer_ms = std::max<int64_t>(1, now_ms - policy.keep_newer_than.count());
  }
  std::vector<BackupListing> removed;
  std::array<char, kErrorBufferSize> err{};
  // Journaled: a crash in it disables the provider (provider_call_journal.h).
  const bkp_status rc = [&] {
    const ProviderCallJournal::Call call(provider.name(), "expire");
    return provider.table().expire(provider.instance(), &retention, CollectListing, &removed,
                                   err.data(), err.size());
  }();
  if (rc != BKP_OK)
    return ProviderFailure(provider.name(), "retention", rc, err.data(), err.size());
  return removed;
}

// ---- BackupCoordinator ------------------------------------------------------

struct BackupCoordinator::Running {
  OperationSnapshot snapshot;  // guarded by the coordinator's mu_
  SteadyClock::time_point steady_start = SteadyClock::now();
  bkp_operation op;
};

class BackupCoordinator::ProviderLease {
 public:
  // Waits until no other call is in `provider`, at most `timeout` (forever
  // when nullopt); held() says whether it got it.
  ProviderLease(BackupCoordinator& coordinator, const LoadedProvider& provider,
                std::optional<std::chrono::milliseconds> timeout = std::nullopt)
      : coordinator_(coordinator), provider_(&provider) {
    std::unique_lock<std::mutex> lock(coordinator_.mu_);
    auto free = [&] { return coordinator_.providers_in_use_.count(provider_) == 0; };
    if (timeout) {
      held_ = coordinator_.provider_released_.wait_for(lock, *timeout, free);
    } else {
      coordinator_.provider_released_.wait(lock, free);
      held_ = true;
    }
    if (held_) coordinator_.providers_in_use_.insert(provider_);
  }
  ~ProviderLease() {
    if (!held_) return;
    {
      std::lock_guard<std::mutex> lock(coordinator_.mu_);
      coordinator_.providers_in_use_.erase(provider_);
    }
    coordinator_.provider_released_.notify_all();
  }
  ProviderLease(const ProviderLease&) = delete;
  ProviderLease& operator=(const ProviderLease&) = delete;
  bool held() const { return held_; }

 private:
  BackupCoordinator& coordinator_;
  const LoadedProvider* provider_;
  bool held_ = false;
};

BackupCoordinator::BackupCoordinator(EventStore& store, ProviderRegistry& providers,
                                     OperationObserver observer)
    : store_(store), providers_(providers), observer_(std::move(observer)) {}

BackupCoordinator::~BackupCoordinator() {
  std::thread worker;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr && current_->snapshot.running()) {
      current_->op.cancel_requested = true;
      current_->snapshot.cancel_requested = true;
    }
    worker = std::move(worker_);
  }
  if (worker.joinable()) worker.join();
}

Result<std::shared_ptr<LoadedProvider>> BackupCoordinator::ResolveProvider(
    std::string_view name) const {
  const auto& all = providers_.providers();
  if (all.empty()) {
    return Status::NotFound(
        "no backup providers are configured: add a [[providers]] entry to the host config and "
        "restart hostd");
  }
  if (name.empty()) {
    if (all.size() == 1) return all.front();
    return Status::InvalidArgument(fmt::format(
        "several backup providers are configured ({}): name one", ConfiguredNames(providers_)));
  }
  for (const auto& provider : all) {
    if (provider->name() == name) return provider;
  }
  return Status::NotFound(fmt::format("unknown backup provider '{}' (configured: {})", name,
                                      ConfiguredNames(providers_)));
}

OperationSnapshot BackupCoordinator::SnapshotLocked(const Running& running) {
  OperationSnapshot snapshot = running.snapshot;
  if (snapshot.running()) {
    snapshot.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() -
                                                                             running.steady_start);
  }
  return snapshot;
}

void BackupCoordinator::Notify(const OperationSnapshot& snapshot) const {
  if (observer_) observer_(snapshot);
}

Result<std::shared_ptr<BackupCoordinator::Running>> BackupCoordinator::Claim(
    OperationKind kind, const LoadedProvider& provider, uint32_t backup_type,
    std::string_view backup_id) {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ != nullptr && current_->snapshot.running()) {
    const OperationSnapshot busy = SnapshotLocked(*current_);
    return Status::Busy(fmt::format(
        "{} in progress: {}; wait for it to finish (hostctl status) or cancel it (hostctl "
        "cancel)",
        OperationKindName(busy.kind), busy.Describe()));
  }
  auto running = std::make_shared<Running>();
  OperationSnapshot& s = running->snapshot;
  s.id = next_id_++;
  s.kind = kind;
  s.provider = provider.name();
  s.backup_type = backup_type;
  s.backup_id = std::string(backup_id);
  s.started = SystemClock::now();
  // Plugins report from any of their threads; each report lands here.
  Running* raw = running.get();
  running->op.on_progress = [this, raw](const bkp_progress& p) {
    std::lock_guard<std::mutex> progress_lock(mu_);
    OperationSnapshot& snap = raw->snapshot;
    snap.phase = p.phase;
    snap.bytes_done = std::max(snap.bytes_done, p.bytes_done);
    snap.files_done = std::max(snap.files_done, p.files_done);
    snap.bytes_total = p.bytes_total;
    snap.files_total = p.files_total;
  };
  current_ = running;
  return running;
}

void BackupCoordinator::Finish(const std::shared_ptr<Running>& running, const Status& status) {
  OperationSnapshot final_snapshot;
  {
    std::lock_guard<std::mutex> lock(mu_);
    OperationSnapshot& s = running->snapshot;
    s.state = FinalState(status, running->op.cancel_requested.load());
    s.cancel_requested = running->op.cancel_requested.load();
    s.error = status;
    s.finished = SystemClock::now();
    s.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() -
                                                                      running->steady_start);
    final_snapshot = s;
  }
  idle_.notify_all();
  Notify(final_snapshot);
}

Result<OperationSnapshot> BackupCoordinator::StartBackup(std::string_view provider_name,
                                                         uint32_t type) {
  if (type != BKP_BACKUP_FULL && type != BKP_BACKUP_INCREMENTAL) {
    return Status::InvalidArgument(
        fmt::format("unknown backup type {}: use full or incremental", type));
  }
  Result<std::shared_ptr<LoadedProvider>> provider = ResolveProvider(provider_name);
  if (!provider.ok()) return provider.status();
  // Refused before the slot is claimed: a request that cannot work must not
  // replace the last operation an operator may still want to look at.
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability((*provider)->name(), (*provider)->table(), BKP_CAP_BACKUP, "take backups"));
  if (type == BKP_BACKUP_INCREMENTAL) {
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability((*provider)->name(), (*provider)->table(),
                                               BKP_CAP_INCREMENTAL, "take incremental backups"));
  }
  Result<std::shared_ptr<Running>> claimed =
      Claim(OperationKind::kBackup, **provider, type, std::string_view());
  if (!claimed.ok()) return claimed.status();
  std::shared_ptr<Running> running = *claimed;

  std::thread previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    previous = std::move(worker_);
  }
  // The previous backup has finished (the slot was free); its thread is at
  // most returning from the observer. Joined outside mu_, which the
  // observer may take.
  if (previous.joinable()) previous.join();

  // Announced before the thread starts, so that a backup ending at once is
  // never logged as ended before it was logged as started.
  OperationSnapshot first;
  {
    std::lock_guard<std::mutex> lock(mu_);
    first = SnapshotLocked(*running);
  }
  Notify(first);
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_ = std::thread(&BackupCoordinator::RunBackupThread, this, running, *provider);
  }
  return first;
}

void BackupCoordinator::RunBackupThread(std::shared_ptr<Running> running,
                                        std::shared_ptr<LoadedProvider> provider) {
  Status status;
  try {
    Result<BackupOutcome> outcome = [&]() -> Result<BackupOutcome> {
      const ProviderLease lease(*this, *provider);
      const ProviderRef ref{provider->name(), provider->table(), provider->instance()};
      return RunBackup(store_, ref, running->snapshot.backup_type, running->op);
    }();
    if (outcome.ok()) {
      std::lock_guard<std::mutex> lock(mu_);
      OperationSnapshot& s = running->snapshot;
      s.backup_id = outcome->backup_id;
      s.bytes_read = outcome->bytes_read;
      s.bytes_stored = outcome->bytes_stored;
      s.files = outcome->files_listed;
    } else {
      status = outcome.status();
    }
  } catch (const std::exception& e) {
    status = Status::IOError(
        fmt::format("backup via provider '{}' failed in the host: {}", provider->name(), e.what()));
  }
  Finish(running, status);
}

std::optional<OperationSnapshot> BackupCoordinator::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ == nullptr) return std::nullopt;
  return SnapshotLocked(*current_);
}

Result<OperationSnapshot> BackupCoordinator::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ == nullptr) {
    return Status::NotFound("nothing to cancel: no backup operation has run since hostd started");
  }
  if (!current_->snapshot.running()) {
    return Status::NotFound(fmt::format("nothing to cancel: the last {} already ended",
                                        SnapshotLocked(*current_).Describe()));
  }
  current_->op.cancel_requested = true;
  current_->snapshot.cancel_requested = true;
  return SnapshotLocked(*current_);
}

std::optional<OperationSnapshot> BackupCoordinator::WaitIdle(
    std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  idle_.wait_for(lock, timeout,
                 [this] { return current_ == nullptr || !current_->snapshot.running(); });
  if (current_ == nullptr) return std::nullopt;
  return SnapshotLocked(*current_);
}

Result<VerifyReport> BackupCoordinator::Verify(std::string_view provider_name,
                                               std::string_view backup_id) {
  Result<std::shared_ptr<LoadedProvider>> provider = ResolveProvider(provider_name);
  if (!provider.ok()) return provider.status();
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability((*provider)->name(), (*provider)->table(),
                                             BKP_CAP_VERIFY, "verify backups"));
  Result<std::shared_ptr<Running>> claimed =
      Claim(OperationKind::kVerify, **provider, 0, backup_id);
  if (!claimed.ok()) return claimed.status();
  std::shared_ptr<Running> running = *claimed;
  Notify(*Current());

  Result<VerifyReport> report = [&]() -> Result<VerifyReport> {
    const ProviderLease lease(*this, **provider);
    return VerifyProviderBackups(**provider, backup_id, &running->op);
  }();
  Status status = report.status();
  if (report.ok() && !report->ok()) {
    // The verify worked, the backups did not: the operation failed, so that
    // `hostctl status` does not call damaged backups a success.
    const VerifyProblem& first = report->problems.front();
    status = Status::Corruption(fmt::format(
        "verify via provider '{}' found {} problem(s); first: backup '{}' file '{}': {}",
        (*provider)->name(), report->problems.size(), first.backup_id, first.file, first.message));
  }
  Finish(running, status);
  return report;
}

Status BackupCoordinator::Delete(std::string_view provider_name, std::string_view backup_id) {
  Result<std::shared_ptr<LoadedProvider>> provider = ResolveProvider(provider_name);
  if (!provider.ok()) return provider.status();
  HOSTSTUB_RETURN_IF_ERROR(RequireCapability((*provider)->name(), (*provider)->table(),
                                             BKP_CAP_REMOVE, "delete backups"));
  if (backup_id.empty()) return DeleteProviderBackup(**provider, backup_id);  // the usage error
  Result<std::shared_ptr<Running>> claimed =
      Claim(OperationKind::kDelete, **provider, 0, backup_id);
  if (!claimed.ok()) return claimed.status();
  Notify(*Current());
  Status status;
  {
    const ProviderLease lease(*this, **provider);
    status = DeleteProviderBackup(**provider, backup_id);
  }
  Finish(*claimed, status);
  return status;
}

Result<std::vector<BackupListing>> BackupCoordinator::Expire(std::string_view provider_name,
                                                             const RetentionPolicy& policy) {
  Result<std::shared_ptr<LoadedProvider>> provider = ResolveProvider(provider_name);
  if (!provider.ok()) return provider.status();
  HOSTSTUB_RETURN_IF_ERROR(CheckRetention(**provider, policy));
  Result<std::shared_ptr<Running>> claimed =
      Claim(OperationKind::kExpire, **provider, 0, std::string_view());
  if (!claimed.ok()) return claimed.status();
  Notify(*Current());
  Result<std::vector<BackupListing>> removed = [&]() -> Result<std::vector<BackupListing>> {
    const ProviderLease lease(*this, **provider);
    return ExpireProviderBackups(**provider, policy);
  }();
  Finish(*claimed, removed.status());
  return removed;
}

Result<std::vector<BackupListing>> BackupCoordinator::List(std::string_view provider_name) {
  Result<std::shared_ptr<LoadedProvider>> provider = ResolveProvider(provider_name);
  if (!provider.ok()) return provider.status();
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability((*provider)->name(), (*provider)->table(), BKP_CAP_LIST, "list backups"));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr && current_->snapshot.running() &&
        current_->snapshot.provider == (*provider)->name()) {
      return Status::Busy(fmt::format(
          "provider '{}' is busy with {}; list its backups when that ends (hostctl status)",
          (*provider)->name(), SnapshotLocked(*current_).Describe()));
    }
  }
  const ProviderLease lease(*this, **provider, kListWait);
  if (!lease.held()) {
    return Status::Busy(
        fmt::format("provider '{}' stayed busy with another call for {} s; try the list again",
                    (*provider)->name(), kListWait.count()));
  }
  return ListProviderBackups(**provider);
}

}  // namespace hoststub
