// The local_disk provider: backups into a directory on this machine, in the
// shared repository format. This file is only the C edge: it reads the
// settings, and turns each ABI call into a repository-engine call inside
// bkp::guard, so no exception ever reaches the host.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "backup_job.h"
#include "bkp/bkp_plugin.hpp"
#include "posix_driver.h"
#include "repository.h"
#include "restore_job.h"

struct bkp_instance {
  bkp::Host host;
  std::unique_ptr<repo::Repository> repository;
  repo::BackupOptions options;
};

namespace {

constexpr const char* kName = "local_disk";
constexpr const char* kVersion = "0.1.0";
// Memory is about 3 MiB per worker; this keeps the worst case well under
// the 64 MiB a backup may use.
constexpr int64_t kMaxWorkers = 16;

const bkp_setting_spec kSettings[] = {
    {"path", BKP_SETTING_STRING, BKP_SETTING_REQUIRED,
     "directory of the repository (created if absent; must be empty or a repository)"},
    {"workers", BKP_SETTING_INT, 0, "compression threads, 1-16 (default: the number of cores)"},
    {"rate_limit", BKP_SETTING_INT, 0,
     "read cap in bytes per second so a backup does not starve the host (default 0: none)"},
};

bkp_status Open(const bkp_open_args* args, bkp_instance** out, char* err, size_t err_len) {
  return bkp::guard(err, err_len, [&] {
    *out = nullptr;
    bkp::Settings settings(*args);
    auto instance = std::make_unique<bkp_instance>();
    instance->host = bkp::Host(*args);
    const std::string path = settings.get_string("path").value_or("");
    if (path.empty()) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'path' must not be empty");
    const int64_t cores = std::max<int64_t>(1, std::thread::hardware_concurrency());
    const int64_t workers = settings.get_int("workers").value_or(std::min(cores, kMaxWorkers));
    if (workers < 1 || workers > kMaxWorkers) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT,
                       "setting 'workers' is " + std::to_string(workers) + ", must be 1-16");
    }
    const int64_t rate = settings.get_int("rate_limit").value_or(0);
    if (rate < 0) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "setting 'rate_limit' must be >= 0 (bytes/s)");
    }
    instance->options.workers = static_cast<uint32_t>(workers);
    instance->options.rate_limit_bps = static_cast<uint64_t>(rate);
    instance->options.provider_name = kName;
    instance->options.provider_version = kVersion;
    instance->repository =
        std::make_unique<repo::Repository>(std::make_shared<repo::PosixDriver>(path));
    *out = instance.release();
  });
}

void Close(bkp_instance* instance) { delete instance; }

bkp_status Backup(bkp_instance* instance, const bkp_backup_args* args, bkp_backup_result* result,
                  char* err, size_t err_len) {
  return bkp::guard(err, err_len, [&] {
    if (args->type != BKP_BACKUP_FULL) {
      throw bkp::Error(BKP_E_UNSUPPORTED,
                       "local_disk takes full backups only (unchanged closed segments are "
                       "shared, not copied again); use wal_archive for incremental chains");
    }
    const bkp::Source source(instance->host.services(), *args);
    const bkp::Operation op(instance->host.services(), args->op);
    const repo::BackupStats stats =
        repo::RunBackupJob(*instance->repository, source, op, instance->host, instance->options);
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

bkp_status Restore(bkp_instance* instance, const bkp_restore_args* args, char* err,
                   size_t err_len) {
  return bkp::guard(err, err_len, [&] {
    if (args->backup_id == nullptr) {
      throw bkp::Error(BKP_E_INVALID_ARGUMENT, "restore needs a backup id");
    }
    const bkp::Sink sink(instance->host.services(), *args);
    const bkp::Operation op(instance->host.services(), args->op);
    repo::RunRestoreJob(*instance->repository, args->backup_id, sink, op);
  });
}

std::string Details(const repo::Manifest& m) {
  nlohmann::json contexts = nlohmann::json::array();
  for (const auto& c : m.contexts) {
    auto range = [](const repo::StreamRange& r) {
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

bkp_status Report(const repo::Manifest& m, uint64_t exclusive, bkp_backup_info_fn fn, void* user) {
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

bkp_status List(bkp_instance* instance, bkp_backup_info_fn fn, void* user, char* err,
                size_t err_len) {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    std::vector<repo::BrokenManifest> broken;
    const auto manifests = instance->repository->LoadAll(&broken);
    for (const auto& b : broken) {
      instance->host.log(BKP_LOG_WARN, "backup '" + b.id + "' is not listed: " + b.error);
    }
    const auto exclusive = repo::Repository::ExclusiveBytes(manifests);
    for (size_t i = 0; i < manifests.size(); ++i) {
      const bkp_status rc = Report(manifests[i], exclusive[i], fn, user);
      if (rc != BKP_OK) return rc;
    }
    return BKP_OK;
  });
}

bkp_status Verify(bkp_instance* instance, const char* backup_id, bkp_operation* op,
                  bkp_verify_problem_fn fn, void* user, char* err, size_t err_len) {
  return bkp::guard(err, err_len, [&]() -> bkp_status {
    const bkp::Operation operation(instance->host.services(), op);
    bkp_status stop = BKP_OK;
    const uint64_t problems =
        repo::RunVerifyJob(*instance->repository, backup_id ? backup_id : "",
                           op ? &operation : nullptr, [&](const repo::VerifyProblem& p) {
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

bkp_status Remove(bkp_instance* instance, const char* backup_id, char* err, size_t err_len) {
  return bkp::guard(err, err_len, [&] {
    if (backup_id == nullptr) throw bkp::Error(BKP_E_INVALID_ARGUMENT, "remove needs a backup id");
    instance->repository->Remove(backup_id);
  });
}

bkp_status Expire(bkp_instance* instance, const bkp_retention* retention, bkp_backup_info_fn fn,
                  void* user, char* err, size_t err_len) {
  return bkp::guard(err, err_len, [&] {
    bkp_retention r{};
    std::memcpy(&r, retention, std::min<size_t>(sizeof r, retention->struct_size));
    const auto removed = instance->repository->Expire(r.keep_last, r.keep_newer_ms);
    if (fn == nullptr) return;
    for (const auto& m : removed) Report(m, 0, fn, user);
  });
}

const bkp_provider kProvider = {
    sizeof(bkp_provider),
    BKP_ABI_VERSION,
    kName,
    kVersion,
    "backups into a local directory: LZ4 frames by content, JSON manifests",
    BKP_CAP_BACKUP | BKP_CAP_RESTORE | BKP_CAP_LIST | BKP_CAP_VERIFY | BKP_CAP_REMOVE |
        BKP_CAP_EXPIRE,
    kSettings,
    sizeof kSettings / sizeof kSettings[0],
    sizeof(bkp_setting_spec),
    Open,
    Close,
    Backup,
    Restore,
    List,
    Verify,
    Remove,
    Expire,
};

}  // namespace

extern "C" BKP_PLUGIN_EXPORT const bkp_provider* bkp_plugin_entry(const bkp_entry_args* args) {
  return bkp::negotiate(args, BKP_ABI_VERSION) ? &kProvider : nullptr;
}
