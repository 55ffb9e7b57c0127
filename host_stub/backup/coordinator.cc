// BackupCoordinator: the operation slot, the provider leases and the backup
// worker (the provider calls are plugin_host/provider_calls.h's). One mutex (mu_)
// guards the operation slot, every snapshot field and the set of providers
// a call is in; it is never held across a call into a plugin, so a progress
// callback (which takes it) can always run.
#include "backup/coordinator.h"

#include <algorithm>
#include <ctime>
#include <exception>
#include <utility>

#include <fmt/format.h>

#include "backup/backup_ids.h"
#include "backup/backup_runner.h"
#include "backup/retention_tiers.h"
#include "backup/timeline_history.h"
#include "util/heap_release.h"
#include "util/human_format.h"
#include "util/log.h"
#include "util/thread_priority.h"
#include "util/utc_time.h"

namespace hoststub {
namespace {

using SteadyClock = std::chrono::steady_clock;
using SystemClock = std::chrono::system_clock;

// How long a list waits for another call into the same provider (another
// list) before it gives up with Busy.
constexpr std::chrono::seconds kListWait{5};

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

}  // namespace

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
    const OperationRequest& request, const LoadedProvider& provider) {
  std::unique_lock<std::mutex> lock(mu_);
  if (request.queue_wait.count() > 0) {
    idle_.wait_for(lock, request.queue_wait, [this] {
      return stopping_ || current_ == nullptr || !current_->snapshot.running();
    });
  }
  if (stopping_) {
    return Status::Busy(
        fmt::format("hostd is stopping: no new {} is started", OperationKindName(request.kind)));
  }
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
  s.kind = request.kind;
  s.provider = provider.name();
  s.backup_type = request.backup_type;
  s.backup_id = std::string(request.backup_id);
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
    final_snapshot = running->snapshot;
  }
  final_snapshot.state = FinalState(status, running->op.cancel_requested.load());
  final_snapshot.cancel_requested = running->op.cancel_requested.load();
  final_snapshot.error = status;
  final_snapshot.finished = SystemClock::now();
  final_snapshot.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
      SteadyClock::now() - running->steady_start);
  // Recorded while the operation still holds the slot and shows as running:
  // whoever sees it ended can find its record.
  if (recorder_) recorder_(final_snapshot);
  {
    std::lock_guard<std::mutex> lock(mu_);
    OperationSnapshot& s = running->snapshot;
    s.state = final_snapshot.state;
    s.cancel_requested = final_snapshot.cancel_requested;
    s.error = final_snapshot.error;
    s.finished = final_snapshot.finished;
    s.elapsed = final_snapshot.elapsed;
    final_snapshot = s;
  }
  idle_.notify_all();
  Notify(final_snapshot);
}

Result<BackupCoordinator::Begun> BackupCoordinator::Begin(const OperationRequest& request) {
  HOSTSTUB_ASSIGN_OR_RETURN(std::shared_ptr<LoadedProvider> provider,
                            ResolveProvider(request.provider));
  if (request.check) HOSTSTUB_RETURN_IF_ERROR(request.check(*provider));
  HOSTSTUB_ASSIGN_OR_RETURN(std::shared_ptr<Running> claimed, Claim(request, *provider));

  std::thread previous;
  {
    std::lock_guard<std::mutex> lock(mu_);
    previous = std::move(worker_);
  }
  // The last backup has finished (the slot was free); its thread is at most
  // returning from the observer. Joined outside mu_, which the observer may
  // take, and before this start is announced, so that no operation is
  // logged as started before the last one was logged as ended.
  if (previous.joinable()) previous.join();

  Begun begun{std::move(claimed), std::move(provider), {}};
  {
    std::lock_guard<std::mutex> lock(mu_);
    begun.first = SnapshotLocked(*begun.running);
  }
  Notify(begun.first);
  return begun;
}

Status BackupCoordinator::Conclude(const Begun& begun, const OperationCall& call) {
  Status status;
  try {
    const ProviderLease lease(*this, *begun.provider);
    status = call(*begun.provider, begun.running->op);
  } catch (const std::exception& e) {
    status = Status::IOError(fmt::format("{} via provider '{}' failed in the host: {}",
                                         OperationKindName(begun.first.kind),
                                         begun.provider->name(), e.what()));
  }
  // What the operation freed goes back before it is reported done, so the
  // next one starts from the host's own footprint (heap_release.h).
  ReleaseFreedHeap();
  Finish(begun.running, status);
  return status;
}

Status BackupCoordinator::RunOperation(const OperationRequest& request, const OperationCall& call) {
  HOSTSTUB_ASSIGN_OR_RETURN(const Begun begun, Begin(request));
  return Conclude(begun, call);
}

Result<OperationSnapshot> BackupCoordinator::StartBackup(std::string_view provider_name,
                                                         uint32_t type,
                                                         std::chrono::milliseconds queue_wait) {
  if (type != BKP_BACKUP_FULL && type != BKP_BACKUP_INCREMENTAL) {
    return Status::InvalidArgument(
        fmt::format("unknown backup type {}: use full or incremental", type));
  }
  OperationRequest request;
  request.kind = OperationKind::kBackup;
  request.provider = provider_name;
  request.backup_type = type;
  request.queue_wait = queue_wait;
  request.check = [type](const LoadedProvider& provider) {
    return CheckBackup(provider.name(), provider.table(), type);
  };
  HOSTSTUB_ASSIGN_OR_RETURN(Begun begun, Begin(request));

  // The backup runs on a worker of its own; the snapshot carries its result.
  auto run = [this, type, running = begun.running](const LoadedProvider& provider,
                                                   bkp_operation& op) -> Status {
    const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
    // This thread is the backup's alone and ends with it, so it may be
    // lowered for good; the provider's threads inherit what it gets.
    struct BackgroundMark {
      std::atomic<bool>& flag;
      ~BackgroundMark() { flag = false; }
    } mark{backup_in_background_};
    if (pacing_ == BackupPacing::kAuto) {
      const BackgroundPriority got = LowerCallingThreadToBackground();
      backup_in_background_ = got.cpu_idle;
      for (const std::string& refused : {got.cpu_error, got.io_error}) {
        if (refused.empty()) continue;
        LogWarn(
            fmt::format("backup through {}: [backup] pacing = \"auto\" could not lower the "
                        "backup's priority ({}); it runs at normal priority for that part",
                        provider.name(), refused));
      }
    }
    HOSTSTUB_ASSIGN_OR_RETURN(const BackupOutcome outcome, RunBackup(store_, ref, type, op));
    std::lock_guard<std::mutex> lock(mu_);
    OperationSnapshot& s = running->snapshot;
    s.backup_id = outcome.backup_id;
    s.bytes_read = outcome.bytes_read;
    s.bytes_stored = outcome.bytes_stored;
    s.files = outcome.files_listed;
    return Status::OK();
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_ = std::thread([this, begun, run] {
      // How it ended is in the snapshot (and went to the observer).
      static_cast<void>(Conclude(begun, run));
    });
  }
  return begun.first;
}

Result<OperationSnapshot> BackupCoordinator::StartRestore(std::string_view provider_name,
                                                          std::string_view backup_id,
                                                          const ContextRestore& what,
                                                          const RestoreTarget& point) {
  HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(what.context));
  if (!what.as.empty()) HOSTSTUB_RETURN_IF_ERROR(ValidateContextName(what.as));
  const std::string name = what.name();
  const std::string id(backup_id);
  OperationRequest request;
  request.kind = OperationKind::kRestore;
  request.provider = provider_name;
  request.backup_id = backup_id;
  request.check = [this, id, point, what, name](const LoadedProvider& provider) -> Status {
    HOSTSTUB_RETURN_IF_ERROR(CheckRestore(provider.name(), provider.table(), id, point));
    const std::vector<std::string> live = store_.Contexts();
    if (what.policy == RestorePolicy::kSafe &&
        std::find(live.begin(), live.end(), name) != live.end()) {
      return Status::Refused(
          fmt::format("context {} already exists; use --as NEW or --policy force", name));
    }
    return Status::OK();
  };
  HOSTSTUB_ASSIGN_OR_RETURN(Begun begun, Begin(request));
  {
    std::lock_guard<std::mutex> lock(mu_);
    begun.running->snapshot.context = name;
    begun.first.context = name;
  }
  // Marked before the worker starts: an append after this call returns is
  // refused, whatever the worker has reached.
  if (Status marked = store_.BeginContextRestore(name); !marked.ok()) {
    Finish(begun.running, marked);
    return marked;
  }
  auto run = [this, id, what, point, name, running = begun.running](const LoadedProvider& provider,
                                                                    bkp_operation& op) -> Status {
    // However the call ends, exceptions included, the mark is lifted before
    // the slot is freed (a next restore of the context marks it again).
    struct Unmark {
      EventStore& store;
      const std::string& name;
      ~Unmark() { store.EndContextRestore(name); }
    } unmark{store_, name};
    const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
    Result<RestoreReport> report =
        RunContextRestore(ref, id, store_.options().data_dir, what, store_.options(), op, point,
                          [this, &provider](const ContextSwapPlan& plan) {
                            return InstallWithArchivers(plan, provider.name());
                          });
    HOSTSTUB_RETURN_IF_ERROR(report.status());
    std::lock_guard<std::mutex> lock(mu_);
    OperationSnapshot& s = running->snapshot;
    s.set_aside = report->previous_moved_to.string();
    s.bytes_read = report->bytes;
    s.files = report->files;
    return Status::OK();
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    worker_ = std::thread([this, begun, run] {
      // How it ended is in the snapshot (and went to the observer).
      static_cast<void>(Conclude(begun, run));
    });
  }
  return begun.first;
}

void BackupCoordinator::SetRestoreArchiveHooks(RestoreArchiveHooks hooks) {
  std::lock_guard<std::mutex> lock(mu_);
  archive_hooks_ = std::move(hooks);
}

Result<std::filesystem::path> BackupCoordinator::InstallWithArchivers(ContextSwapPlan plan,
                                                                      const std::string& source) {
  RestoreArchiveHooks hooks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    hooks = archive_hooks_;
  }
  if (!hooks.hold) return store_.InstallRestoredContext(plan);
  // No archiver ships between the decision and the swap, so none ships the
  // restored context on the old timeline, nor raises a floor past the
  // branch points read here.
  const ArchiveHold held = hooks.hold(plan.context);
  bool moved = false;
  struct Release {
    const RestoreArchiveHooks& hooks;
    const bool& moved;
    ~Release() { hooks.resume(moved); }
  } release{hooks, moved};
  const std::vector<std::string> live = store_.Contexts();
  const bool exists = std::find(live.begin(), live.end(), plan.context) != live.end();
  // A context the archive never held (a new --as name) just starts its
  // stream on the directory's timeline; one it held would mix two histories.
  if (held.archivers > 0 && (exists || held.knows_context)) {
    HOSTSTUB_ASSIGN_OR_RETURN(
        plan.timeline,
        TimelineForContextRestore(
            store_, plan.context, std::max(held.newest_timeline, plan.source_newest_timeline),
            fmt::format("restore of context '{}' via provider '{}' into the running host",
                        plan.context, source)));
  }
  Result<std::filesystem::path> aside = store_.InstallRestoredContext(plan);
  // Also after a failure past the marker: the directory may be on the new
  // timeline already, and the archiver then reads which one it is on.
  moved = plan.timeline.has_value();
  return aside;
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

Result<OperationSnapshot> BackupCoordinator::Shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  idle_.notify_all();  // queued requests wake up and give up
  return Cancel();
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
  OperationRequest request;
  request.kind = OperationKind::kVerify;
  request.provider = provider_name;
  request.backup_id = backup_id;
  request.check = [](const LoadedProvider& provider) {
    return RequireCapability(provider.name(), provider.table(), BKP_CAP_VERIFY, "verify backups");
  };
  std::optional<Result<VerifyReport>> report;
  const Status status =
      RunOperation(request, [&](const LoadedProvider& provider, bkp_operation& op) -> Status {
        std::string id;
        if (!backup_id.empty()) {
          Result<std::string> resolved = ResolveIdOfCurrent(provider, backup_id);
          if (!resolved.ok()) return resolved.status();
          id = std::move(resolved).value();
        }
        report = VerifyProviderBackups(provider, id, &op);
        if (!report->ok() || (*report)->ok()) return report->status();
        // The verify worked, the backups did not: the operation failed, so
        // that `hostctl status` does not call damaged backups a success.
        const VerifyProblem& first = (*report)->problems.front();
        return Status::Corruption(fmt::format(
            "verify via provider '{}' found {} problem(s); first: backup '{}' file '{}': {}",
            provider.name(), (*report)->problems.size(), first.backup_id, first.file,
            first.message));
      });
  // No report: refused before the call, or the host failed during it.
  if (!report.has_value()) return status;
  return *std::move(report);
}

Status BackupCoordinator::Delete(std::string_view provider_name, std::string_view backup_id) {
  OperationRequest request;
  request.kind = OperationKind::kDelete;
  request.provider = provider_name;
  request.backup_id = backup_id;
  request.check = [backup_id](const LoadedProvider& provider) {
    return CheckDelete(provider, backup_id);
  };
  return RunOperation(request, [&](const LoadedProvider& provider, bkp_operation&) -> Status {
    HOSTSTUB_ASSIGN_OR_RETURN(const std::string id, ResolveIdOfCurrent(provider, backup_id));
    return DeleteProviderBackup(provider, id);
  });
}

Result<std::string> BackupCoordinator::ResolveIdOfCurrent(const LoadedProvider& provider,
                                                          std::string_view spec) {
  HOSTSTUB_ASSIGN_OR_RETURN(std::string id, ResolveProviderBackupId(provider, spec));
  // Status and the log name the backup itself, not `latest` or a prefix.
  std::lock_guard<std::mutex> lock(mu_);
  if (current_ != nullptr && current_->snapshot.running()) current_->snapshot.backup_id = id;
  return id;
}

Result<BackupListing> BackupCoordinator::PlanDelete(std::string_view provider_name,
                                                    std::string_view backup_id) {
  HOSTSTUB_ASSIGN_OR_RETURN(const std::shared_ptr<LoadedProvider> provider,
                            ResolveProvider(provider_name));
  HOSTSTUB_RETURN_IF_ERROR(CheckDelete(*provider, backup_id));
  HOSTSTUB_ASSIGN_OR_RETURN(const std::vector<BackupListing> backups, List(provider->name()));
  HOSTSTUB_ASSIGN_OR_RETURN(const std::string id,
                            ResolveBackupId(backups, backup_id, provider->name()));
  std::string children;
  for (const BackupListing& b : backups) {
    if (b.parent_id == id) children += fmt::format("{}'{}'", children.empty() ? "" : ", ", b.id);
  }
  // The engine's own refusal (repo/retention.h RemoveBackup), said before
  // anything is asked of the provider.
  if (!children.empty()) {
    return Status::Refused(fmt::format(
        "backup '{}' is the parent of incremental backup(s) {}, which need it to restore: "
        "delete those first, or let retention remove whole chains",
        id, children));
  }
  for (const BackupListing& b : backups) {
    if (b.id == id) return b;
  }
  return Status::NotFound(fmt::format("no backup '{}' in provider '{}'", id, provider->name()));
}

Result<std::vector<BackupListing>> BackupCoordinator::Expire(std::string_view provider_name,
                                                             const RetentionPolicy& policy) {
  OperationRequest request;
  request.kind = OperationKind::kExpire;
  request.provider = provider_name;
  request.check = [&policy](const LoadedProvider& provider) {
    return CheckRetention(provider, policy);
  };
  std::optional<Result<std::vector<BackupListing>>> removed;
  const Status status =
      RunOperation(request, [&](const LoadedProvider& provider, bkp_operation&) -> Status {
        removed = ApplyRetention(provider, policy, SystemClock::now());
        return removed->status();
      });
  if (!removed.has_value()) return status;
  return *std::move(removed);
}

Result<DrillResult> BackupCoordinator::Drill(std::string_view provider_name,
                                             const std::filesystem::path& scratch_root) {
  OperationRequest request;
  request.kind = OperationKind::kDrill;
  request.provider = provider_name;
  request.check = [](const LoadedProvider& provider) {
    HOSTSTUB_RETURN_IF_ERROR(RequireCapability(provider.name(), provider.table(), BKP_CAP_LIST,
                                               "pick the newest backup for a restore drill"));
    return RequireCapability(provider.name(), provider.table(), BKP_CAP_RESTORE,
                             "restore a backup in a restore drill");
  };
  HOSTSTUB_ASSIGN_OR_RETURN(const Begun begun, Begin(request));
  DrillResult result;
  result.provider = begun.provider->name();
  result.started = SystemClock::now();
  static_cast<void>(
      Conclude(begun, [&](const LoadedProvider& provider, bkp_operation& op) -> Status {
        Result<std::string> newest = ResolveIdOfCurrent(provider, "latest");
        if (!newest.ok()) {
          result.error = fmt::format("restore drill via provider '{}': {}", provider.name(),
                                     newest.status().message());
          return newest.status();
        }
        const ProviderRef ref{provider.name(), provider.table(), provider.instance()};
        RunRestoreDrill(ref, *newest, scratch_root, store_.options(), op, result);
        if (!result.ok) return Status::Corruption(result.error);
        return Status::OK();
      }));
  result.finished = SystemClock::now();
  return result;
}

Result<std::vector<BackupListing>> BackupCoordinator::List(std::string_view provider_name) {
  HOSTSTUB_ASSIGN_OR_RETURN(const std::shared_ptr<LoadedProvider> provider,
                            ResolveProvider(provider_name));
  HOSTSTUB_RETURN_IF_ERROR(
      RequireCapability(provider->name(), provider->table(), BKP_CAP_LIST, "list backups"));
  std::optional<OperationSnapshot> busy_with;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (current_ != nullptr && current_->snapshot.running() &&
        current_->snapshot.provider == provider->name()) {
      busy_with = SnapshotLocked(*current_);
    }
  }
  if (busy_with) {
    // The running operation holds the instance, maybe for hours: list
    // through an instance of our own. Its plugin file is the running one's.
    ProviderConfig config = provider->config();
    config.plugin = provider->plugin_path().string();
    Result<std::shared_ptr<LoadedProvider>> side =
        LoadedProvider::Open(config, provider->plugin_path().parent_path(), nullptr);
    if (!side.ok()) {
      return Status::Busy(fmt::format(
          "provider '{}' is busy with {} and a second instance for the list could not be "
          "opened ({}); list its backups when that ends (hostctl status)",
          provider->name(), busy_with->Describe(), side.status().message()));
    }
    return ListProviderBackups(**side);
  }
  const ProviderLease lease(*this, *provider, kListWait);
  if (!lease.held()) {
    return Status::Busy(
        fmt::format("provider '{}' stayed busy with another call for {} s; try the list again",
                    provider->name(), kListWait.count()));
  }
  return ListProviderBackups(*provider);
}

}  // namespace hoststub
