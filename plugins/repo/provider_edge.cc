// The shared provider edge (see provider_edge.h).
#include "provider_edge.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "restore_job.h"

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
  return nlohmann::json{{"contexts", contexts}, {"bytes_new", m.bytes_new}}.dump();
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

bkp_status OpenInstance(const ProviderIdentity& identity, DriverFactory make_driver,
                        const bkp_open_args* args, bkp_instance** out, char* err,
                        size_t err_len) noexcept {
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
    instance->options.workers = static_cast<uint32_t>(workers);
    instance->options.rate_limit_bps = static_cast<uint64_t>(rate);
    instance->options.provider_name = identity.name;
    instance->options.provider_version = identity.version;
    instance->incremental = identity.incremental;
    instance->repository = std::make_unique<Repository>(make_driver(settings));
    *out = instance.release();
  });
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
    const bkp::Source source(instance->host.services(), *args);
    const bkp::Operation op(instance->host.services(), args->op);
    const BackupStats stats = RunBackupJob(*instance->repository, source, op, instance->host,
                                           instance->options, args->type);
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

bkp_status RestoreInstance(bkp_instance* instance, const bkp_restore_args* args, char* err,
                           size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    if (args->backup_id == nullptr) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "restore needs a backup id");
    }
    const bkp::Sink sink(instance->host.services(), *args);
    const bkp::Operation op(instance->host.services(), args->op);
    RunRestoreJob(*instance->repository, args->backup_id, sink, op);
  });
}

bkp_status ListInstance(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                        size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    std::vector<BrokenManifest> broken;
    const auto manifests = instance->repository->LoadAll(&broken);
    for (const auto& b : broken) {
      instance->host.log(BKP_LOG_WARN, "backup '" + b.id + "' is not listed: " + b.error);
    }
    const auto exclusive = Repository::ExclusiveBytes(manifests);
    for (size_t i = 0; i < manifests.size(); ++i) {
      const bkp_status rc = Report(manifests[i], exclusive[i], fn, user);
      if (rc != BKP_OK) return rc;
    }
    return BKP_OK;
  });
}

bkp_status VerifyInstance(bkp_instance* instance, const char* backup_id, bkp_operation* op,
                          bkp_verify_problem_fn fn, void* user, char* err,
                          size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    const bkp::Operation operation(instance->host.services(), op);
    bkp_status stop = BKP_OK;
    const uint64_t problems =
        RunVerifyJob(*instance->repository, backup_id ? backup_id : "", op ? &operation : nullptr,
                     instance->options.workers, [&](const VerifyProblem& p) {
                       bkp_verify_problem problem{};
                       problem.struct_size = sizeof problem;
                       problem.status = p.status;
                       problem.backup_id = p.backup_id.c_str();
                       problem.file = p.file.c_str();
                       problem.message = p.message.c_str();
                       if (fn != nullptr && stop == BKP_OK) stop = fn(user, &problem);
                     });
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
    instance->repository->Remove(backup_id);
  });
}

bkp_status ExpireInstance(bkp_instance* instance, const bkp_retention* retention,
                          bkp_backup_info_fn fn, void* user, char* err, size_t err_len) noexcept {
  return bkp::guard(err, err_len, [&] {
    bkp_retention r{};
    std::memcpy(&r, retention, std::min<size_t>(sizeof r, retention->struct_size));
    const auto removed = instance->repository->Expire(r.keep_last, r.keep_newer_ms);
    if (fn == nullptr) return;
    for (const auto& m : removed) Report(m, 0, fn, user);
  });
}

}  // namespace repo
