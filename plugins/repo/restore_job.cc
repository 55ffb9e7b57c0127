// Restore and verify (see restore_job.h).
#include "restore_job.h"

#include <algorithm>
#include <map>

#include "object_codec.h"

namespace repo {
namespace {

std::string FileLabel(const FileEntry& f) {
  if (f.role == BKP_ROLE_CONTROL_DB) return f.name;
  return f.context + "/" + RoleName(f.role) + "/" + f.name;
}

// Restore order: the roles in order, then context, then ascending base.
void SortForRestore(std::vector<FileEntry>* files) {
  std::stable_sort(files->begin(), files->end(), [](const FileEntry& a, const FileEntry& b) {
    return std::tie(a.role, a.context, a.base) < std::tie(b.role, b.context, b.base);
  });
}

}  // namespace

RestoreStats RunRestoreJob(Repository& repository, const std::string& backup_id,
                           const bkp::Sink& sink, const bkp::Operation& op) {
  Manifest manifest = repository.Load(backup_id);
  SortForRestore(&manifest.files);
  uint64_t bytes_total = 0;
  for (const auto& f : manifest.files) {
    auto size = repository.driver().Stat(f.object);
    if (!size) {
      throw bkp::Error(BKP_E_CORRUPT, "backup '" + backup_id + "' is incomplete: " + FileLabel(f) +
                                          " is stored as '" + f.object +
                                          "', which is missing from " + repository.Describe());
    }
    bytes_total += f.size;
  }

  RestoreStats stats;
  bkp_progress progress{};
  progress.bytes_total = bytes_total;
  progress.files_total = manifest.files.size();
  for (const auto& f : manifest.files) {
    op.throw_if_cancelled("restore");
    bkp_item item{};
    item.role = f.role;
    item.context = f.role == BKP_ROLE_CONTROL_DB ? nullptr : f.context.c_str();
    item.name = f.name.c_str();
    item.size = f.size;
    item.base = f.base;
    item.next = f.next;
    item.flags = f.closed ? BKP_ITEM_CLOSED : 0;
    sink.begin(item);
    auto reader = repository.driver().Open(f.object);
    const std::string what =
        "backup '" + backup_id + "', " + FileLabel(f) + " ('" + f.object + "')";
    DecodeObject(*reader, what, f.size, f.xxh3, [&](const char* data, size_t len) {
      sink.write(data, len);
      stats.bytes += len;
      progress.bytes_done = stats.bytes;
    });
    sink.end();
    ++stats.files;
    progress.phase = PhaseOfRole(f.role);
    progress.files_done = stats.files;
    op.progress(progress);
  }
  return stats;
}

uint64_t RunVerifyJob(Repository& repository, const std::string& backup_id,
                      const bkp::Operation* op,
                      const std::function<void(const VerifyProblem&)>& report) {
  std::vector<Manifest> manifests;
  uint64_t problems = 0;
  auto problem = [&](bkp_status status, const std::string& id, const std::string& file,
                     const std::string& message) {
    ++problems;
    report({status, id, file, message});
  };
  if (!backup_id.empty()) {
    manifests.push_back(repository.Load(backup_id));
  } else {
    std::vector<BrokenManifest> broken;
    manifests = repository.LoadAll(&broken);
    for (const auto& b : broken) problem(BKP_E_CORRUPT, b.id, "manifest", b.error);
  }
  uint64_t bytes_total = 0;
  uint64_t files_total = 0;
  for (const auto& m : manifests) {
    bytes_total += m.TotalBytes();
    files_total += m.files.size();
  }
  // Each object's verdict, so an object shared by many backups is decoded once.
  std::map<std::string, std::optional<std::pair<bkp_status, std::string>>> verdicts;
  bkp_progress progress{};
  progress.phase = BKP_PHASE_EVENTS;
  progress.bytes_total = bytes_total;
  progress.files_total = files_total;
  for (const auto& m : manifests) {
    for (const auto& f : m.files) {
      if (op != nullptr) op->throw_if_cancelled("verify");
      auto known = verdicts.find(f.object);
      if (known == verdicts.end()) {
        std::optional<std::pair<bkp_status, std::string>> verdict;
        try {
          if (!repository.driver().Stat(f.object)) {
            verdict = {BKP_E_NOT_FOUND, "stored object '" + f.object + "' is missing"};
          } else {
            auto reader = repository.driver().Open(f.object);
            DecodeObject(*reader, "'" + f.object + "'", f.size, f.xxh3, [](const char*, size_t) {});
          }
        } catch (const bkp::Error& e) {
          verdict = {e.status(), e.what()};
        }
        known = verdicts.emplace(f.object, verdict).first;
      }
      if (known->second) problem(known->second->first, m.id, FileLabel(f), known->second->second);
      progress.bytes_done += f.size;
      ++progress.files_done;
      if (op != nullptr) op->progress(progress);
    }
  }
  return problems;
}

}  // namespace repo
