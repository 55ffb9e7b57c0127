// Verify (see verify_job.h).
#include "repo/verify_job.h"

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <tuple>

#include "repo/archive.h"
#include "repo/chain.h"
#include "repo/object_codec.h"
#include "repo/parallel.h"
#include "repo/quarantine.h"

namespace repo {

namespace {

using Verdict = std::optional<std::pair<bkp_status, std::string>>;  // nullopt: sound

// A reference's verdict as reported: says when the object was set aside,
// or when the object itself is intact and the reference is what is wrong.
struct ObjectFate {
  std::optional<std::string> quarantined_to;
  bool intact = false;
  std::optional<std::string> not_set_aside;  // why setting it aside failed
  bool deferred = false;  // damaged, but another operation held the repository: recorded pending
};

// Where the problem that explains a deferred set-aside is reported.
constexpr const char* kQuarantineFile = "quarantine/";

std::string Describe(const Verdict& verdict, const ObjectFate& fate) {
  std::string message = verdict->second;
  if (fate.quarantined_to) {
    message += "; set aside as '" + *fate.quarantined_to +
               "' so that no new backup uses it (the next backup, or `backup repair`, stores "
               "those bytes anew from the host where it still has them)";
  } else if (fate.intact) {
    message += "; the stored object itself is intact: the record of it is what is wrong";
  } else if (fate.not_set_aside) {
    message += "; it could not be set aside (" + *fate.not_set_aside + ")";
  } else if (fate.deferred) {
    message += std::string("; not set aside yet: another operation holds the repository (see '") +
               kQuarantineFile +
               "'), so it stays in place, recorded as damaged: no new backup reuses it, and the "
               "next backup stores those bytes anew over it where the host still has them";
  }
  return message;
}

}  // namespace

uint64_t RunVerifyJob(Repository& repository, const std::string& backup_id,
                      const bkp::Operation* op, uint32_t workers,
                      const std::function<void(const VerifyProblem&)>& report,
                      const RestoreItemCheck& admit) {
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
  // The continuous archive belongs to no one backup: a verify of them all
  // covers it, so that damage there is found before a restore needs it.
  std::vector<std::pair<std::string, ArchivedSegment>> archived;
  if (backup_id.empty()) {
    for (const auto& key : ArchiveRecordKeys(repository.driver())) {
      try {
        archived.emplace_back(key, LoadArchiveRecord(repository.driver(), key));
      } catch (const bkp::Error& e) {
        problem(e.status(), "", key, e.what());
      }
    }
  }

  // What a restore would feed the host's sink: the ABI's order (one control
  // DB, first: RestoreOrder sorts the rest) and, item by item, the host's
  // own rules, which only it knows (host_stub/plugin_host/restore_rules.h).
  auto refused = [&](const FileEntry& f) -> std::optional<std::string> {
    if (!admit) return std::nullopt;
    auto why = admit(f);
    if (why) return "a restore would fail here: the host refuses this item (" + *why + ")";
    return std::nullopt;
  };
  for (const auto& s : states) {
    size_t control_dbs = 0;
    for (const auto& f : s.RestoreOrder()) {
      control_dbs += f.role == BKP_ROLE_CONTROL_DB;
      if (auto why = refused(f)) problem(BKP_E_CORRUPT, s.tip.id, FileLabel(f), *why);
    }
    if (control_dbs != 1) {
      problem(BKP_E_CORRUPT, s.tip.id, "manifest",
              "its state holds " + std::to_string(control_dbs) +
                  " control DBs: a restore writes exactly one, first, and fails without it");
    }
  }
  for (const auto& [key, record] : archived) {
    if (auto why = refused(record.file)) problem(BKP_E_CORRUPT, "", key, *why);
  }

  // Each stored object is decoded once, however many backups share it.
  using ObjectKey = std::tuple<std::string, uint64_t, uint64_t>;  // object, size, xxh3
  std::map<ObjectKey, Verdict> verdicts;
  uint64_t bytes_total = 0;
  auto want = [&](const Chunk& c) {
    if (verdicts.emplace(ObjectKey{c.object, c.size, c.xxh3}, std::nullopt).second) {
      bytes_total += c.size;
    }
  };
  for (const auto& s : states) {
    for (const auto& [key, f] : s.files) {
      for (const auto& c : f.chunks) want(c);
    }
  }
  for (const auto& [key, record] : archived) {
    for (const auto& c : record.file.chunks) want(c);
  }
  std::vector<std::pair<const ObjectKey, Verdict>*> todo;
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
    Verdict verdict;
    try {
      if (!repository.driver().Stat(object)) {
        std::string why = "stored object '" + object + "' is missing";
        if (auto q = FindQuarantined(repository.driver(), object); q && q->set_aside) {
          why += " (set aside by an earlier verify: " + q->reason + ")";
        }
        verdict = {BKP_E_NOT_FOUND, why};
      } else {
        auto reader = repository.driver().Open(object);
        DecodeObject(*reader, CodecOfObject(object), "'" + object + "'", size, xxh3,
                     [](const char*, size_t) {});
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

  // A pending record (quarantine.h) whose object verified sound was healed
  // by a backup that stored its bytes anew: the record has served.
  {
    std::set<std::string> sound;
    for (const auto& [key, verdict] : verdicts) {
      if (!verdict) sound.insert(std::get<0>(key));
    }
    for (const auto& [key, verdict] : verdicts) {
      if (verdict) sound.erase(std::get<0>(key));  // another reference of it is not
    }
    std::set<std::string> candidates;
    for (const auto& object : QuarantinedObjects(repository.driver())) {
      if (sound.count(object) > 0) candidates.insert(object);
    }
    for (const auto& object : PendingObjects(repository.driver(), candidates)) {
      ClearPending(repository.driver(), object);
    }
  }

  // A damaged object is set aside, so that no new backup references it; one
  // that is intact stays whatever a record says of it (another backup may
  // need exactly those bytes).
  std::map<std::string, ObjectFate> fates;
  std::vector<std::pair<std::string, std::string>> damaged;  // object, what is wrong
  for (const auto& [key, verdict] : verdicts) {
    const std::string& object = std::get<0>(key);
    if (!verdict || !IsObjectKey(object) || fates.count(object) > 0) continue;
    ObjectFate& fate = fates[object];
    try {
      if (verdict->first == BKP_E_NOT_FOUND) {
        RecordMissing(repository.driver(), object, verdict->second);  // for the next backup
      } else if (verdict->first == BKP_E_CORRUPT) {
        if (auto damage = ObjectDamage(repository.driver(), object)) {
          damaged.emplace_back(object, *damage);
        } else {
          fate.intact = true;
        }
      }
    } catch (const bkp::Error& e) {
      // The problem is reported all the same, and why it stays in place.
      if (e.status() == BKP_E_CANCELLED) throw;
      fate.not_set_aside = e.what();
    }
  }
  // Moving an object away is a deletion to anyone else: a backup running
  // elsewhere under its shared lock may have decided to reuse it and would
  // then publish a manifest naming an object that is gone. So the set-aside
  // needs the repository to itself: the exclusive lock (this object's own
  // shared one does not conflict with it), and against this provider's own
  // archiver, the publish lock. Refused, nothing moves: the damage is
  // recorded as pending, so that no backup starting from now reuses the
  // object, and the next verify sets it aside.
  std::optional<std::string> deferred;
  if (!damaged.empty()) {
    std::unique_ptr<RepositoryLock> exclusive;
    try {
      exclusive = repository.Lock(RepositoryLock::Mode::kExclusive, "verify set-aside");
    } catch (const bkp::Error& e) {
      if (e.status() != BKP_E_BUSY) throw;
      deferred = e.what();
    }
    std::unique_lock<std::shared_mutex> publishing;
    if (exclusive) publishing = repository.ExclusivePublishLock();
    for (const auto& [object, damage] : damaged) {
      ObjectFate& fate = fates[object];
      try {
        if (deferred) {
          // Only a record is added (safe under the shared lock): writers
          // then treat the object as set aside (quarantine.h).
          RecordPending(repository.driver(), object, damage);
          fate.deferred = true;
          continue;
        }
        fate.quarantined_to = SetAside(repository.driver(), object, damage);
      } catch (const bkp::Error& e) {
        if (e.status() == BKP_E_CANCELLED) throw;
        fate.not_set_aside = e.what();
      }
    }
  }
  auto describe = [&](const Chunk& c) {
    const Verdict& verdict = verdicts.at(ObjectKey{c.object, c.size, c.xxh3});
    auto fate = fates.find(c.object);
    return Describe(verdict, fate == fates.end() ? ObjectFate{} : fate->second);
  };

  for (const auto& s : states) {
    for (const auto& f : s.RestoreOrder()) {
      for (const auto& c : f.chunks) {
        const Verdict& verdict = verdicts.at(ObjectKey{c.object, c.size, c.xxh3});
        if (!verdict) continue;
        std::string message = describe(c);
        if (!c.stored_by.empty() && c.stored_by != s.tip.id) {
          message += " (stored by backup '" + c.stored_by + "' of its chain)";
        }
        problem(verdict->first, s.tip.id, FileLabel(f), message);
      }
    }
  }
  for (const auto& [key, record] : archived) {
    for (const auto& c : record.file.chunks) {
      const Verdict& verdict = verdicts.at(ObjectKey{c.object, c.size, c.xxh3});
      if (!verdict) continue;
      problem(verdict->first, "", key,
              "archived " + FileLabel(record.file) + " bytes " + std::to_string(c.offset) + "-" +
                  std::to_string(c.end()) + ": " + describe(c) +
                  "; a restore to a point before it still works");
    }
  }
  if (deferred) {
    problem(BKP_E_BUSY, "", kQuarantineFile,
            std::to_string(damaged.size()) +
                " damaged object(s) not set aside yet, only recorded as pending in '" +
                kQuarantineFile + "': " + *deferred +
                ". No backup starting from now reuses them (one running already still may), and "
                "the next backup stores their bytes anew over them where the host still has "
                "them; run verify again when no other operation uses the repository to set "
                "aside what is still damaged");
  }
  return problems;
}

}  // namespace repo
