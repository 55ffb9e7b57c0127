// Verify (see verify_job.h).
#include "verify_job.h"

#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "chain.h"
#include "object_codec.h"
#include "parallel.h"

namespace repo {

uint64_t RunVerifyJob(Repository& repository, const std::string& backup_id,
                      const bkp::Operation* op, uint32_t workers,
                      const std::function<void(const VerifyProblem&)>& report) {
  uint64_t problems = 0;
  auto problem = [&](bkp_status status, const std::string& id, const std::string& file,
                     const std::string& message) {
    ++problems;
    report({status, id, file, message});
  };
  std::vector<std::string> ids;
  if (!backup_id.empty()) {
    repository.Load(backup_id);  // NOT_FOUND for an unknown id, before any work
    ids.push_back(backup_id);
  } else {
    ids = repository.ListIds();
  }
  std::vector<BackupState> states;
  for (const auto& id : ids) {
    try {
      states.push_back(ResolveState(repository, id, /*explain=*/false));
    } catch (const bkp::Error& e) {
      problem(e.status(), id, "manifest", e.what());
    }
  }

  // Each stored object is decoded once, however many backups share it.
  using ObjectKey = std::tuple<std::string, uint64_t, uint64_t>;  // object, size, xxh3
  std::map<ObjectKey, std::optional<std::pair<bkp_status, std::string>>> verdicts;
  uint64_t bytes_total = 0;
  for (const auto& s : states) {
    for (const auto& [key, f] : s.files) {
      for (const auto& c : f.chunks) {
        if (verdicts.emplace(ObjectKey{c.object, c.size, c.xxh3}, std::nullopt).second) {
          bytes_total += c.size;
        }
      }
    }
  }
  std::vector<std::pair<const ObjectKey, std::optional<std::pair<bkp_status, std::string>>>*> todo;
  for (auto& v : verdicts) todo.push_back(&v);

  std::mutex progress_mu;
  bkp_progress progress{};
  progress.phase = BKP_PHASE_EVENTS;
  progress.bytes_total = bytes_total;
  progress.files_total = todo.size();
  ParallelFor parallel(workers);
  parallel.Run(todo.size(), [&](size_t i, size_t) {
    if (op != nullptr) op->throw_if_cancelled("verify");
    const auto& [object, size, xxh3] = todo[i]->first;
    std::optional<std::pair<bkp_status, std::string>> verdict;
    try {
      if (!repository.driver().Stat(object)) {
        verdict = {BKP_E_NOT_FOUND, "stored object '" + object + "' is missing"};
      } else {
        auto reader = repository.driver().Open(object);
        DecodeObject(*reader, "'" + object + "'", size, xxh3, [](const char*, size_t) {});
      }
    } catch (const bkp::Error& e) {
      if (e.status() == BKP_E_CANCELLED) throw;
      verdict = {e.status(), e.what()};
    }
    todo[i]->second = verdict;
    if (op != nullptr) {
      std::lock_guard lock(progress_mu);
      progress.bytes_done += size;
      ++progress.files_done;
      op->progress(progress);
    }
  });

  for (const auto& s : states) {
    for (const auto& f : s.RestoreOrder()) {
      for (const auto& c : f.chunks) {
        const auto& verdict = verdicts.at(ObjectKey{c.object, c.size, c.xxh3});
        if (!verdict) continue;
        std::string message = verdict->second;
        if (!c.stored_by.empty() && c.stored_by != s.tip.id) {
          message += " (stored by backup '" + c.stored_by + "' of its chain)";
        }
        problem(verdict->first, s.tip.id, FileLabel(f), message);
      }
    }
  }
  return problems;
}

}  // namespace repo
