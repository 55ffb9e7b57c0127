// The operations on generated data: a full backup of every role (snapshots
// included) restored byte for byte, increments, list order, a cancel at
// every check point, and the size rules. Every check that makes a backup
// also checks that a failed or cancelled one leaves nothing list shows.
#include <algorithm>
#include <cstring>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "bkp/bkp_plugin_c.h"
#include "kit.h"

namespace bkp::conformance::detail {

std::vector<fake::Item> GenerateItems(uint64_t seed, int generation) {
  std::mt19937_64 rng(seed * 7919u + static_cast<uint64_t>(generation));
  auto bytes = [&](size_t n) {
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  };
  std::vector<fake::Item> items;
  items.push_back({BKP_ROLE_CONTROL_DB, "", fake::ItemName(BKP_ROLE_CONTROL_DB, 0),
                   bytes(4096 + rng() % 8192), std::nullopt, 0, 0});
  const char* const kContexts[] = {"alpha", "beta-2"};
  const uint32_t kStreams[] = {BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS};
  for (const char* context : kContexts) {
    const bool beta = std::strcmp(context, "beta-2") == 0;
    for (uint32_t role : kStreams) {
      // beta-2's snapshot stream is one empty segment that never grows.
      if (beta && role == BKP_ROLE_SNAPSHOTS) {
        items.push_back({role, context, fake::ItemName(role, 0), "", std::nullopt, 0, 0});
        continue;
      }
      uint64_t cursor = role == BKP_ROLE_LOG ? 1 : 0;
      std::mt19937_64 stream_rng(seed + role * 31u + (beta ? 1000u : 0u));
      for (int g = 0; g <= generation; ++g) {
        for (int k = 0; k < 2; ++k) {
          const uint64_t count = 1 + stream_rng() % 40;
          const size_t size = 1 + static_cast<size_t>(stream_rng() % (24 * 1024));
          std::mt19937_64 data_rng(stream_rng());
          std::string data(size, '\0');
          for (char& c : data) c = static_cast<char>(data_rng());
          items.push_back({role, context, fake::ItemName(role, cursor), std::move(data),
                           std::nullopt, cursor, cursor + count});
          cursor += count;
        }
      }
    }
  }
  // The source lists each role's items oldest first, contexts in name order.
  std::stable_sort(items.begin(), items.end(), [](const fake::Item& a, const fake::Item& b) {
    return std::tie(a.role, a.context, a.base) < std::tie(b.role, b.context, b.base);
  });
  return items;
}

namespace {

struct BackupRun {
  bkp_status status = BKP_OK;
  std::string err;
  std::string id;
  bkp_backup_result result{};
  uint64_t checks = 0;  // op_cancelled calls
};

struct Info {
  std::string id;
  std::string parent;
  uint32_t type = 0;
  int64_t created_ms = 0;
  uint64_t files = 0;
};

BackupRun Backup(Kit& kit, bkp_instance* instance, uint32_t type) {
  BackupRun run;
  char err[1024] = "";
  kit.host.ResetOperation();
  const bkp_backup_args args = kit.host.BackupArgs(type);
  run.result.struct_size = sizeof run.result;
  run.status = kit.table.backup(instance, &args, &run.result, err, sizeof err);
  run.err = err;
  const char* end = static_cast<const char*>(
      std::memchr(run.result.backup_id, '\0', sizeof run.result.backup_id));
  run.id = end != nullptr
               ? std::string(run.result.backup_id, static_cast<size_t>(end - run.result.backup_id))
               : std::string();
  run.checks = kit.host.cancel_checks;
  return run;
}

bkp_status CollectInfo(void* user, const bkp_backup_info* given) {
  bkp_backup_info info;
  bkp_copy_versioned(&info, sizeof info, given, 0);
  Info out;
  out.id = info.id != nullptr ? info.id : "";
  out.parent = info.parent_id != nullptr ? info.parent_id : "";
  out.type = info.type;
  out.created_ms = info.created_ms;
  out.files = info.files;
  static_cast<std::vector<Info>*>(user)->push_back(out);
  return BKP_OK;
}

// The backups list reports, oldest first; a failed list adds a problem.
std::vector<Info> List(Kit& kit, bkp_instance* instance, Problems* p) {
  std::vector<Info> out;
  char err[1024] = "";
  const bkp_status st = kit.table.list(instance, &CollectInfo, &out, err, sizeof err);
  if (st != BKP_OK) p->push_back("list failed: " + StatusText(st) + ": " + err);
  return out;
}

std::set<std::string> Ids(const std::vector<Info>& infos) {
  std::set<std::string> ids;
  for (const Info& i : infos) ids.insert(i.id);
  return ids;
}

std::string Label(uint32_t role, const std::string& context, const std::string& name) {
  return std::string(bkp_role_name(role)) + " item " + (context.empty() ? "" : context + "/") +
         name;
}

// What the sink received against the host state that was backed up.
void CompareRestored(const fake::FakeHost& host, const std::vector<fake::Item>& items,
                     const std::string& what, Problems* p) {
  std::map<std::tuple<uint32_t, std::string, std::string>, const fake::Restored*> got;
  for (const fake::Restored& r : host.restored) {
    if (!got.emplace(std::make_tuple(r.role, r.context, r.name), &r).second) {
      p->push_back(what + ": " + Label(r.role, r.context, r.name) + " was restored twice");
    }
    if (!r.ended) p->push_back(what + ": " + Label(r.role, r.context, r.name) + " never ended");
  }
  for (const fake::Item& item : items) {
    auto it = got.find(std::make_tuple(item.role, item.context, item.name));
    const std::string label = Label(item.role, item.context, item.name);
    if (it == got.end()) {
      p->push_back(what + ": " + label + " was not restored");
      continue;
    }
    if (it->second->data != item.data) {
      p->push_back(what + ": " + label + " came back with different bytes (" +
                   std::to_string(it->second->data.size()) + " of " +
                   std::to_string(item.data.size()) + ")");
    }
    if (it->second->base != item.base) {
      p->push_back(what + ": " + label + " came back with base " +
                   std::to_string(it->second->base) + ", not " + std::to_string(item.base));
    }
    got.erase(it);
  }
  for (const auto& [key, r] : got) {
    p->push_back(what + ": restored " + Label(r->role, r->context, r->name) +
                 ", which the backup never held");
  }
}

bkp_status Restore(Kit& kit, bkp_instance* instance, const std::string& id, std::string* err_out) {
  char err[1024] = "";
  kit.host.ResetOperation();
  const bkp_restore_args args = kit.host.RestoreArgs(id.c_str());
  const bkp_status st = kit.table.restore(instance, &args, err, sizeof err);
  *err_out = err;
  if (!kit.host.sink_poisoned.empty()) *err_out += " [sink: " + kit.host.sink_poisoned + "]";
  return st;
}

struct VerifyProblems {
  std::vector<std::string> messages;
};

bkp_status CollectProblem(void* user, const bkp_verify_problem* problem) {
  static_cast<VerifyProblems*>(user)->messages.push_back(
      problem->message != nullptr ? problem->message : "(no message)");
  return BKP_OK;
}

// Check points to cancel at: all of 0..count-1, or `max` spread over them.
std::vector<uint64_t> CancelPoints(uint64_t count, size_t max) {
  std::vector<uint64_t> points;
  if (count <= max) {
    for (uint64_t i = 0; i < count; ++i) points.push_back(i);
  } else {
    for (size_t i = 0; i < max; ++i) points.push_back(i * count / max);
  }
  return points;
}

// The same items with fresh bytes: the same sizes, names and so the same
// check points, but nothing a repository that deduplicates already holds
// (a cancelled backup may keep what it stored before the cancel).
std::vector<fake::Item> Refill(std::vector<fake::Item> items, uint64_t salt) {
  std::mt19937_64 rng(salt * 2654435761u + 12345u);
  for (fake::Item& item : items) {
    for (char& c : item.data) c = static_cast<char>(rng());
  }
  return items;
}

bool ValidPhase(uint32_t phase) {
  for (size_t i = 0; i < BKP_PHASE_COUNT; ++i) {
    if (bkp_phase_at(i) == phase) return true;
  }
  return false;
}

// A failed backup left nothing list shows. What it left joins `before`, so
// each leftover is reported once.
void CheckNothingLeft(Kit& kit, bkp_instance* instance, std::set<std::string>* before,
                      const std::string& what, Problems* p) {
  if (!kit.Has(BKP_CAP_LIST)) return;
  for (const Info& info : List(kit, instance, p)) {
    if (before->insert(info.id).second) {
      p->push_back(what + " left backup '" + info.id + "' that list shows");
    }
  }
}

}  // namespace

void CheckOperations(Kit& kit) {
  if (!kit.Has(BKP_CAP_BACKUP)) {
    kit.Note("no BKP_CAP_BACKUP: round trips, list order, cancel and size rules do not apply");
    return;
  }
  std::string why;
  bkp_instance* instance = kit.Open(&why);
  if (instance == nullptr) {
    kit.Conclude("round trip: full backup of every role", {"cannot open an instance: " + why});
    return;
  }
  Problems setup;
  std::set<std::string> before;
  if (kit.Has(BKP_CAP_LIST)) before = Ids(List(kit, instance, &setup));
  if (!before.empty()) {
    kit.Note("the repository already holds " + std::to_string(before.size()) +
             " backup(s); the checks run beside them (an empty one is best)");
  }

  // ---- a full backup of every role, listed, restored, verified ----
  const std::vector<fake::Item> gen0 = GenerateItems(kit.options.seed, 0);
  kit.host.items = gen0;
  BackupRun full = Backup(kit, instance, BKP_BACKUP_FULL);
  uint64_t backup_checks = full.checks;
  uint64_t restore_checks = 0;
  std::vector<std::string> made;  // ids of the backups made, in order
  {
    Problems p = setup;
    if (full.status != BKP_OK) {
      p.push_back("full backup failed: " + StatusText(full.status) + ": " + full.err);
    } else {
      made.push_back(full.id);
      if (full.id.empty()) p.push_back("backup_id is empty or not NUL-terminated in its 64 bytes");
      for (char c : full.id) {
        const bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                           (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.' || c == ':';
        if (!plain) {
          kit.Note("backup id '" + full.id +
                   "' has characters beyond A-Z a-z 0-9 _ - . : (bkp_plugin.h, names)");
          break;
        }
      }
      const std::vector<uint32_t> order = {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS,
                                           BKP_ROLE_SNAPSHOTS};
      if (kit.host.listed_roles != order) {
        p.push_back(
            "the backup did not list every role once in order (control DB, log, events, "
            "snapshots)");
      }
      for (size_t i = 0; i < gen0.size(); ++i) {
        if (i < kit.host.bytes_served.size() && kit.host.bytes_served[i] < gen0[i].data.size()) {
          p.push_back("the backup read " + std::to_string(kit.host.bytes_served[i]) + " of " +
                      std::to_string(gen0[i].data.size()) + " bytes of " +
                      Label(gen0[i].role, gen0[i].context, gen0[i].name));
        }
      }
      if (full.result.files != gen0.size()) {
        p.push_back("result.files is " + std::to_string(full.result.files) + "; the source held " +
                    std::to_string(gen0.size()) + " items");
      }
      for (const bkp_progress& pr : kit.host.progress) {
        if (!ValidPhase(pr.phase)) {
          p.push_back("progress reported unknown phase " + std::to_string(pr.phase));
          break;
        }
      }
      if (backup_checks == 0) {
        p.push_back(
            "the backup never called op_cancelled (check between files and every few "
            "MiB)");
      }
      if (kit.Has(BKP_CAP_LIST)) {
        const std::vector<Info> infos = List(kit, instance, &p);
        if (infos.empty() || infos.back().id != full.id) {
          p.push_back("list does not show the new backup '" + full.id + "' as the newest");
        } else {
          if (infos.back().type != BKP_BACKUP_FULL) p.push_back("list: type is not FULL");
          if (!infos.back().parent.empty()) p.push_back("list: a full backup has a parent_id");
          if (infos.back().files != gen0.size()) {
            p.push_back("list: files is " + std::to_string(infos.back().files) + ", not " +
                        std::to_string(gen0.size()));
          }
        }
      }
      if (kit.Has(BKP_CAP_RESTORE)) {
        std::string err;
        const bkp_status st = Restore(kit, instance, full.id, &err);
        restore_checks = kit.host.cancel_checks;
        if (st != BKP_OK) {
          p.push_back("restore failed: " + StatusText(st) + ": " + err);
        } else {
          CompareRestored(kit.host, gen0, "restore", &p);
        }
      }
      if (kit.Has(BKP_CAP_VERIFY)) {
        VerifyProblems problems;
        char err[1024] = "";
        kit.host.ResetOperation();
        const bkp_status st = kit.table.verify(instance, full.id.c_str(), kit.host.op(),
                                               &CollectProblem, &problems, err, sizeof err);
        if (st != BKP_OK || !problems.messages.empty()) {
          p.push_back("verify of a good backup: " + StatusText(st) + ": " + err +
                      (problems.messages.empty() ? "" : " (" + problems.messages[0] + ")"));
        }
      }
    }
    kit.Conclude(
        "round trip: a full backup of every role is listed, restored byte for byte, "
        "verified",
        p);
  }
  if (full.status != BKP_OK) {
    kit.table.close(instance);
    return;
  }

  // ---- an increment ----
  const std::vector<fake::Item> gen1 = GenerateItems(kit.options.seed, 1);
  kit.host.items = gen1;
  if (kit.Has(BKP_CAP_INCREMENTAL)) {
    Problems p;
    BackupRun inc = Backup(kit, instance, BKP_BACKUP_INCREMENTAL);
    if (inc.status != BKP_OK) {
      p.push_back("incremental backup failed: " + StatusText(inc.status) + ": " + inc.err);
    } else {
      made.push_back(inc.id);
      if (kit.Has(BKP_CAP_LIST)) {
        const std::vector<Info> infos = List(kit, instance, &p);
        if (infos.empty() || infos.back().id != inc.id) {
          p.push_back("list does not show the increment '" + inc.id + "' as the newest");
        } else if (infos.back().type != BKP_BACKUP_INCREMENTAL || infos.back().parent.empty()) {
          p.push_back("list: the increment is not of type INCREMENTAL with a parent_id");
        }
      }
      if (kit.Has(BKP_CAP_RESTORE)) {
        std::string err;
        const bkp_status st = Restore(kit, instance, inc.id, &err);
        if (st != BKP_OK) {
          p.push_back("restore of the increment failed: " + StatusText(st) + ": " + err);
        } else {
          CompareRestored(kit.host, gen1, "restore of the increment", &p);
        }
      }
    }
    kit.Conclude("round trip: an increment restores the whole later state", p);
  }

  // ---- list order ----
  if (kit.Has(BKP_CAP_LIST)) {
    Problems p;
    BackupRun again = Backup(kit, instance, BKP_BACKUP_FULL);
    if (again.status != BKP_OK) {
      p.push_back("a second full backup failed: " + StatusText(again.status) + ": " + again.err);
    } else {
      made.push_back(again.id);
    }
    const std::vector<Info> infos = List(kit, instance, &p);
    std::vector<std::string> ours;
    std::set<std::string> seen;
    for (size_t i = 0; i < infos.size(); ++i) {
      if (!seen.insert(infos[i].id).second) p.push_back("list shows '" + infos[i].id + "' twice");
      if (i > 0 && infos[i].created_ms < infos[i - 1].created_ms) {
        p.push_back("list is not oldest first: '" + infos[i].id + "' after '" + infos[i - 1].id +
                    "' was created earlier");
      }
      if (!before.count(infos[i].id)) ours.push_back(infos[i].id);
    }
    if (ours != made) {
      std::string want, got;
      for (const std::string& id : made) want += " " + id;
      for (const std::string& id : ours) got += " " + id;
      p.push_back("list shows the backups made as [" + got + " ], made in the order [" + want +
                  " ]");
    }
    kit.Conclude("list: every complete backup once, oldest first", p);
  }

  // ---- cancel at every check point ----
  {
    Problems p;
    std::set<std::string> existing =
        kit.Has(BKP_CAP_LIST) ? Ids(List(kit, instance, &p)) : std::set<std::string>();
    const std::vector<uint64_t> points = CancelPoints(backup_checks, kit.options.max_cancel_points);
    size_t unreached = 0;
    for (uint64_t point : points) {
      kit.host.items = Refill(gen0, kit.options.seed + 1000 + point);
      kit.host.cancel_after_checks = point;
      BackupRun run = Backup(kit, instance, BKP_BACKUP_FULL);
      const std::string at = "backup cancelled at check point " + std::to_string(point + 1) +
                             " of " + std::to_string(backup_checks);
      // A complete backup may stay: what list shows now joins `existing`, so
      // the next cancelled run is not blamed for it.
      const auto keep_complete = [&] {
        if (kit.Has(BKP_CAP_LIST)) existing.merge(Ids(List(kit, instance, &p)));
      };
      if (run.status == BKP_OK && run.checks <= point) {
        // op_cancelled never answered 1: this run took a shorter path (a
        // provider that reuses what an earlier backup stored reads less).
        ++unreached;
        keep_complete();
        continue;
      }
      if (run.status != BKP_E_CANCELLED) {
        p.push_back(at + " returned " + StatusText(run.status) + ", not BKP_E_CANCELLED" +
                    (run.err.empty() ? "" : ": " + run.err));
        if (run.status == BKP_OK) {
          keep_complete();
          continue;
        }
      } else if (run.err.empty()) {
        p.push_back(at + ": BKP_E_CANCELLED without a message");
      }
      CheckNothingLeft(kit, instance, &existing, at, &p);
    }
    kit.host.cancel_after_checks.reset();
    kit.host.items = gen0;
    if (unreached > 0) {
      kit.Note(std::to_string(unreached) + " of " + std::to_string(points.size()) +
               " backup cancel points were not reached again (the backup took a shorter path)");
    }
    kit.Conclude("cancel: a backup cancelled at each of its " + std::to_string(points.size()) +
                     " check points returns BKP_E_CANCELLED and leaves no backup",
                 p);
  }
  if (kit.Has(BKP_CAP_RESTORE) && restore_checks > 0) {
    Problems p;
    const std::vector<uint64_t> points =
        CancelPoints(restore_checks, kit.options.max_cancel_points);
    for (uint64_t point : points) {
      kit.host.cancel_after_checks = point;
      std::string err;
      const bkp_status st = Restore(kit, instance, full.id, &err);
      kit.host.cancel_after_checks.reset();
      if (st != BKP_E_CANCELLED) {
        p.push_back("restore cancelled at check point " + std::to_string(point + 1) + " of " +
                    std::to_string(restore_checks) + " returned " + StatusText(st) + ": " + err);
      }
    }
    kit.host.cancel_after_checks.reset();
    kit.Conclude("cancel: a restore cancelled at each of its " + std::to_string(points.size()) +
                     " check points returns BKP_E_CANCELLED",
                 p);
  }

  // ---- size rules: a source item that ends before its listed size ----
  {
    Problems p;
    std::set<std::string> existing =
        kit.Has(BKP_CAP_LIST) ? Ids(List(kit, instance, &p)) : std::set<std::string>();
    std::vector<fake::Item> shrunk = gen0;
    fake::Item& victim = shrunk[shrunk.size() / 2];
    victim.announced_size = victim.data.size() + 4096;
    kit.host.items = shrunk;
    BackupRun run = Backup(kit, instance, BKP_BACKUP_FULL);
    if (run.status == BKP_OK) {
      p.push_back("a backup whose " + Label(victim.role, victim.context, victim.name) +
                  " ended 4096 bytes before its listed size succeeded (as '" + run.id + "')");
    } else {
      CheckNothingLeft(kit, instance, &existing, "the failed backup", &p);
    }
    kit.host.items = gen0;
    kit.Conclude("size: an item shorter than listed fails the backup and leaves no backup", p);
  }

  // ---- remove ----
  if (kit.Has(BKP_CAP_REMOVE) && kit.Has(BKP_CAP_LIST) && !made.empty()) {
    Problems p;
    const std::string id = made.back();
    char err[1024] = "";
    const bkp_status st = kit.table.remove(instance, id.c_str(), err, sizeof err);
    if (st != BKP_OK) {
      p.push_back("remove of '" + id + "' failed: " + StatusText(st) + ": " + err);
    } else if (Ids(List(kit, instance, &p)).count(id)) {
      p.push_back("list still shows '" + id + "' after remove");
    }
    kit.Conclude("remove: a removed backup is gone from list", p);
  }
  kit.table.close(instance);
}

}  // namespace bkp::conformance::detail
