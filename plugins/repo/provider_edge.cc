// The shared provider edge (see provider_edge.h).
#include "repo/provider_edge.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "repo/archive.h"
#include "repo/encrypted_driver.h"
#include "repo/point_in_time.h"
#include "repo/provider_instance.h"
#include "repo/restore_job.h"
#include "repo/retention.h"
#include "repo/timeline.h"
#include "repo/verify_job.h"

namespace repo {
namespace {

// Memory is about 3 MiB per worker; this keeps the worst case well under
// the 64 MiB a backup may use.
constexpr int64_t kMaxWorkers = 16;

std::string Details(const Manifest& m) {
  nlohmann::json contexts = nlohmann::json::array();
  for (const auto& c : m.contexts) {
    auto range = [](const StreamRange& r) {
      return nlohmann::json{{"first", r.first}, {"next", r.next}};
    };
    contexts.push_back({{"name", c.name},
                        {"term", c.term},
                        {"commit_index", c.commit_index},
                        {"log", range(c.log)},
                        {"events", range(c.events)},
                        {"snapshots", range(c.snapshots)}});
  }
  return nlohmann::json{
      {"contexts", contexts}, {"bytes_new", m.bytes_new}, {"timeline", m.timeline}}
      .dump();
}

bkp_status Report(const Manifest& m, uint64_t exclusive, bkp_backup_info_fn fn, void* user) {
  const std::string details = Details(m);
  bkp_backup_info info{};
  info.struct_size = sizeof info;
  info.type = m.type == "incremental" ? BKP_BACKUP_INCREMENTAL : BKP_BACKUP_FULL;
  info.id = m.id.c_str();
  info.parent_id = m.parent ? m.parent->c_str() : nullptr;
  info.created_ms = m.created_ms;
  info.bytes = m.TotalBytes();
  info.stored_bytes = exclusive;
  info.files = m.files.size();
  info.details = details.c_str();
  return fn(user, &info);
}

}  // namespace

uint32_t NegotiatedAbiVersion(const bkp_host_services& services) {
  return std::min<uint32_t>(services.abi_version, BKP_ABI_VERSION);
}

namespace {

// Both OpenInstance overloads: `make_driver` is called once, with the
// settings and the new instance's host.
template <typename MakeDriver>
bkp_status Open(const ProviderIdentity& identity, const MakeDriver& make_driver,
                const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    *out = nullptr;
    const bkp::Settings settings(*args);
    auto instance = std::make_unique<bkp_instance>();
    instance->host = bkp::Host(*args);
    const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
    const int64_t workers = settings.get_int("workers").value_or(std::min(cores, kMaxWorkers));
    if (workers < 1 || workers > kMaxWorkers) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'workers' is " + std::to_string(workers) +
                                                   ", must be 1-" + std::to_string(kMaxWorkers));
    }
    const int64_t rate = settings.get_int("rate_limit").value_or(0);
    if (rate < 0) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'rate_limit' must be >= 0 (bytes/s)");
    }
    const int64_t full_check_every =
        settings.get_int("full_check_every").value_or(kDefaultFullCheckEvery);
    if (full_check_every < 1 || full_check_every > 1000000) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'full_check_every' is " +
                                                   std::to_string(full_check_every) +
                                                   ", must be 1-1000000 (1: every backup reads "
                                                   "every reused file's tail)");
    }
    instance->options.full_check_every = static_cast<uint32_t>(full_check_every);
    instance->options.workers = static_cast<uint32_t>(workers);
    instance->options.rate_limit_bps = static_cast<uint64_t>(rate);
    instance->options.compression =
        ParseCompression(settings.get_string("compression"), settings.get_int("compression_level"));
    instance->options.provider_name = identity.name;
    instance->options.provider_version = identity.version;
    instance->options.abi_version = NegotiatedAbiVersion(*args->services);
    instance->incremental = identity.incremental;
    RepositoryOptions options = RepositoryOptions::FromEnvironment();
    const std::string name = args->provider_name ? args->provider_name : identity.name;
    options.unlock_hint = "`hostd backup unlock --provider " + name + "`";
    auto driver = WithEncryptionSettings(make_driver(settings, instance->host), settings, &options);
    instance->repository = std::make_unique<Repository>(std::move(driver), std::move(options));
    *out = instance.release();
  });
}

}  // namespace

bkp_status OpenInstance(const ProviderIdentity& identity, DriverFactory make_driver,
                        const bkp_open_args* args, bkp_instance** out, char* err,
                        size_t err_len) noexcept {
  return Open(
      identity,
      [make_driver](const bkp::Settings& settings, const bkp::Host&) {
        return make_driver(settings);
      },
      args, out, err, err_len);
}

bkp_status OpenInstance(const ProviderIdentity& identity, LoggingDriverFactory make_driver,
                        const bkp_open_args* args, bkp_instance** out, char* err,
                        size_t err_len) noexcept {
  return Open(identity, make_driver, args, out, err, err_len);
}

void CloseInstance(bkp_instance* instance) noexcept { delete instance; }

bkp_status BackupInstance(bkp_instance* instance, const bkp_backup_args* args,
                          bkp_backup_result* result, char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    if (args->type == BKP_BACKUP_INCREMENTAL && !instance->incremental) {
      throw bkp::Error(BKP_E_UNSUPPORTED,
                       instance->options.provider_name +
                           " takes full backups only (unchanged closed segments are shared, not "
                           "copied again); use wal_archive for incremental chains");
    }
    if (args->type != BKP_BACKUP_FULL && args->type != BKP_BACKUP_INCREMENTAL) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "unknown backup type " + std::to_string(args->type));
    }
    // A host older than 1.2 passes no timeline: it is on the first.
    const bkp_backup_args full = bkp::copy_versioned(args);
    BackupOptions options = instance->options;
    options.timeline = full.timeline == 0 ? 1 : full.timeline;
    const bkp::Source source(instance->host.services(), *args);
    const bkp::Operation op(instance->host.services(), args->op);
    // From reading the base to publishing the manifest: no delete or GC
    // elsewhere may take what the backup reuses or has stored.
    const auto lock = instance->repository->Lock(RepositoryLock::Mode::kShared, "backup");
    const BackupStats stats = RunBackupJob(*instance->repository, source, op, instance->host,
                                           options, args->type, lock.get());
    bkp::write_error(result->backup_id, sizeof result->backup_id, stats.id);
    result->bytes_read = stats.bytes_read;
    result->bytes_stored = stats.bytes_new;
    result->files = stats.files;
    instance->host.logf(BKP_LOG_INFO,
                        "backup %s: %llu files, %llu bytes read, %llu reused unread, %llu bytes "
                        "newly stored",
                        stats.id.c_str(), static_cast<unsigned long long>(stats.files),
                        static_cast<unsigned long long>(stats.bytes_read),
                        static_cast<unsigned long long>(stats.bytes_reused),
                        static_cast<unsigned long long>(stats.bytes_new));
  });
}

bkp_status RestoreInstance(bkp_instance* instance, const bkp_restore_args* args_in, char* err,
                           size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    // A 1.0 host's struct ends before the target: it reads as none.
    const bkp_restore_args args = bkp::copy_versioned(args_in);
    RestoreTarget target;
    target.kind = args.target;
    target.token = args.target_token;
    target.time_ms = args.target_time_ms;
    if (args.target_context != nullptr) target.context = args.target_context;
    target.timeline = args.timeline;
    if (target.kind != BKP_TARGET_NONE && target.kind != BKP_TARGET_TOKEN &&
        target.kind != BKP_TARGET_TIME) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       "unknown restore target kind " + std::to_string(target.kind));
    }
    if (args.backup_id == nullptr && target.kind == BKP_TARGET_NONE) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "restore needs a backup id or a target");
    }
    std::optional<std::string> id;
    if (args.backup_id != nullptr) id = args.backup_id;
    const bkp::Sink sink(instance->host.services(), args.sink);
    const bkp::Operation op(instance->host.services(), args.op);
    const auto lock = instance->repository->Lock(RepositoryLock::Mode::kShared, "restore");
    uint32_t timeline = 1;
    const BackupState state = StateForTarget(*instance->repository, id, target, &timeline);
    if (!id) {
      instance->host.log(BKP_LOG_INFO, "restoring from backup '" + state.tip.id +
                                           "' and the archive after it, to the target, along "
                                           "timeline " +
                                           std::to_string(timeline));
    }
    // The archive goes on past what is restored: the restored host must
    // archive on a timeline of its own.
    const auto timelines = LoadTimelines(instance->repository->driver());
    if (!Archive(*instance->repository).Timelines().empty() || timelines.size() > 1) {
      sink.timeline(timeline, std::max(timeline, NewestTimeline(timelines)));
    }
    RunRestoreJob(*instance->repository, state, sink, op);
  });
}

bkp_status ListInstance(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                        size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    std::vector<BrokenManifest> broken;
    const auto manifests = instance->repository->LoadAll(&broken);
    const auto exclusive = Repository::ExclusiveBytes(manifests);
    for (size_t i = 0; i < manifests.size(); ++i) {
      const bkp_status rc = Report(manifests[i], exclusive[i], fn, user);
      if (rc != BKP_OK) return rc;
    }
    if (broken.empty()) return BKP_OK;
    // A manifest that cannot be read is a backup that may be lost: the
    // listing fails, naming each one by its file, rather than leave it out.
    std::string unreadable;
    for (const auto& b : broken) {
      instance->host.log(BKP_LOG_ERROR, ManifestKey(b.id) + " is unreadable: " + b.error);
      unreadable +=
          (unreadable.empty() ? "" : "; ") + ManifestKey(b.id) + " is unreadable (" + b.error + ")";
    }
    bkp::write_error(err, err_len,
                     std::to_string(broken.size()) + " manifest(s) in " +
                         instance->repository->Describe() + " cannot be read: " + unreadable);
    return BKP_E_CORRUPT;
  });
}

bkp_status VerifyInstance(bkp_instance* instance, const char* backup_id, bkp_operation* op,
                          bkp_verify_problem_fn fn, void* user, char* err,
                          size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    const bkp::Operation operation(instance->host.services(), op);
    const auto lock = instance->repository->Lock(RepositoryLock::Mode::kShared, "verify");
    bkp_status stop = BKP_OK;
    // The host owns the rules of what its sink takes; it is asked.
    const RestoreItemCheck admit = [&](const FileEntry& f) {
      return instance->host.restore_item_refusal(RestoreItem(f));
    };
    const uint64_t problems = RunVerifyJob(
        *instance->repository, backup_id ? backup_id : "", op ? &operation : nullptr,
        instance->options.workers,
        [&](const VerifyProblem& p) {
          bkp_verify_problem problem{};
          problem.struct_size = sizeof problem;
          problem.status = p.status;
          problem.backup_id = p.backup_id.c_str();
          problem.file = p.file.c_str();
          problem.message = p.message.c_str();
          if (fn != nullptr && stop == BKP_OK) stop = fn(user, &problem);
        },
        admit);
    if (stop != BKP_OK) return stop;
    if (problems > 0) {
      bkp::write_error(
          err, err_len,
          std::to_string(problems) + " problem(s) found in " + instance->repository->Describe());
      return BKP_E_CORRUPT;
    }
    return BKP_OK;
  });
}

bkp_status RemoveInstance(bkp_instance* instance, const char* backup_id, char* err,
                          size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    if (backup_id == nullptr) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "remove needs a backup id");
    const auto lock = instance->repository->Lock(RepositoryLock::Mode::kExclusive, "delete");
    RemoveBackup(*instance->repository, backup_id);
  });
}

bkp_status ExpireInstance(bkp_instance* instance, const bkp_retention* retention,
                          bkp_backup_info_fn fn, void* user, char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    const bkp_retention r = bkp::copy_versioned(retention);
    const auto lock = instance->repository->Lock(RepositoryLock::Mode::kExclusive, "expire");
    const auto removed = ExpireBackups(*instance->repository, r.keep_last, r.keep_newer_ms);
    if (fn == nullptr) return;
    for (const auto& m : removed) Report(m, 0, fn, user);
  });
}

}  // namespace repo

namespace repo {

bkp_status ArchiveInstance(bkp_instance* instance, const bkp_archive_args* args_in, char* err,
                           size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    const bkp_archive_args args = bkp::copy_versioned(args_in);
    if (args.item == nullptr) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "archive without an item");
    const bkp_item item = bkp::copy_versioned(args.item);
    if (item.role != BKP_ROLE_LOG && item.role != BKP_ROLE_EVENTS &&
        item.role != BKP_ROLE_SNAPSHOTS) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       "only segments are archived, not role " + std::to_string(item.role));
    }
    if (item.context == nullptr || item.name == nullptr) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "archive item without a context or name");
    }
    FileEntry file;
    file.role = item.role;
    file.context = item.context;
    file.name = item.name;
    file.base = item.base;
    file.next = item.next;
    file.size = item.size;
    file.closed = (item.flags & BKP_ITEM_CLOSED) != 0;

    const bkp::Source source(instance->host.services(), args.source);
    const bkp::Operation op(instance->host.services(), args.op);
    const uint64_t id = item.id;
    const ReadAt read = [&](uint64_t offset, void* buf, size_t len) {
      const size_t got = source.read(id, offset, buf, len);
      if (got != len) {
        throw bkp::Error(BKP_E_IO, "'" + file.name + "' of context '" + file.context +
                                       "' ended at byte " + std::to_string(offset + got) + " of " +
                                       std::to_string(file.size) + " offered for the archive");
      }
    };
    const uint32_t timeline = args.timeline == 0 ? 1 : args.timeline;
    std::lock_guard lock(instance->archive_mu);
    const auto repository_lock =
        instance->repository->Lock(RepositoryLock::Mode::kShared, "archive");
    if (timeline > 1 && instance->timelines_published.count(timeline) == 0) {
      if (args.timeline_history == nullptr) {
        throw bkp::Error(BKP_E_INVALID_ARGUMENT, "archive on timeline " + std::to_string(timeline) +
                                                     " without the timeline's history");
      }
      const TimelineHistory history =
          DecodeTimelineHistory(args.timeline_history, "the host's timeline history");
      if (history.timeline != timeline) {
        throw bkp::Error(BKP_E_INVALID_ARGUMENT, "the host's timeline history describes timeline " +
                                                     std::to_string(history.timeline) + ", not " +
                                                     std::to_string(timeline));
      }
      PublishTimeline(*instance->repository, history);
      instance->timelines_published.insert(timeline);
    }
    // The newest backup's state, for segments the archive has nothing of.
    const auto ids = instance->repository->ListIds();
    if (ids.empty()) {
      instance->archive_reuse.reset();
    } else if (!instance->archive_reuse || instance->archive_reuse->tip.id != ids.back()) {
      try {
        instance->archive_reuse = ResolveState(*instance->repository, ids.back(), false);
      } catch (const bkp::Error& e) {
        instance->archive_reuse.reset();  // only less reuse: the archive is still whole
        instance->host.log(BKP_LOG_WARN,
                           std::string("the archive cannot reuse the newest backup: ") + e.what());
      }
    }
    RateLimiter limiter(instance->options.rate_limit_bps);
    std::atomic<uint64_t> added{0};
    ChunkSink sink{instance->repository->driver(), limiter,
                   [&] { op.throw_if_cancelled("archive"); }, nullptr, added};
    sink.compression = instance->options.compression;
    Archive(*instance->repository)
        .Put(file, args.observed_ms, args.first_ms, read, sink,
             // A backup of another timeline may hold other bytes under the same name.
             instance->archive_reuse && instance->archive_reuse->tip.timeline == timeline
                 ? &*instance->archive_reuse
                 : nullptr,
             timeline);
  });
}

bkp_status ArchiveStatusInstance(bkp_instance* instance, bkp_archive_position_fn fn, void* user,
                                 char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    for (const ArchivePosition& p : Archive(*instance->repository).Positions()) {
      bkp_archive_position out{};
      out.struct_size = sizeof out;
      out.timeline = p.timeline;
      out.role = p.role;
      out.context = p.context.c_str();
      out.has_closed = p.closed_base ? 1 : 0;
      out.closed_base = p.closed_base.value_or(0);
      out.partial_name = p.partial_name.empty() ? nullptr : p.partial_name.c_str();
      out.partial_size = p.partial_size;
      out.next = p.next;
      out.archived_ms = p.archived_ms;
      const bkp_status rc = fn(user, &out);
      if (rc != BKP_OK) return rc;
    }
    return BKP_OK;
  });
}

bkp_status LocksInstance(bkp_instance* instance, uint32_t flags, bkp_lock_info_fn fn, void* user,
                         char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    if ((flags & ~BKP_LOCKS_REMOVE_STALE) != 0) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "unknown locks flags " + std::to_string(flags));
    }
    const auto locks =
        InspectLocks(instance->repository->driver(), instance->repository->options().locks,
                     (flags & BKP_LOCKS_REMOVE_STALE) != 0);
    for (const auto& [lock, stale, removed] : locks) {
      if (fn == nullptr) continue;
      bkp_lock_info info{};
      info.struct_size = sizeof info;
      info.exclusive = lock.exclusive ? 1 : 0;
      info.id = lock.key.c_str();
      info.operation = lock.unreadable.empty() ? lock.operation.c_str() : nullptr;
      info.host = lock.unreadable.empty() ? lock.host.c_str() : nullptr;
      info.pid = lock.pid;
      info.since_ms = lock.since_ms;
      info.refreshed_ms = lock.unreadable.empty() ? lock.refreshed_ms : lock.modified_ms;
      info.stale = stale.empty() ? nullptr : stale.c_str();
      info.removed = removed ? 1 : 0;
      const bkp_status rc = fn(user, &info);
      if (rc != BKP_OK) return rc;
    }
    return BKP_OK;
  });
}

}  // namespace repo
