// The backup pipeline (see backup_job.h).
#include "repo/backup_job.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <vector>

#include "repo/chain.h"
#include "repo/chunk_store.h"
#include "repo/object_codec.h"
#include "repo/parallel.h"
#include "repo/quarantine.h"
#include "repo/rate_limiter.h"
#include "repo/repair_job.h"
#include "repo/utc_time.h"

namespace repo {
namespace {

constexpr uint64_t kProgressEvery = 8ull << 20;
// Objects waiting for, or in, a group commit at most: each an open file. A
// batch of 64 small objects costs the disk about what one object does.
constexpr size_t kCommitCapacity = 128;

struct ListedItem {
  uint32_t role = 0;
  std::string context;
  std::string name;
  uint64_t id = 0;
  uint64_t size = 0;
  uint64_t base = 0;
  uint64_t next = 0;
  bool closed = false;

  FileKey key() const { return {role, context, name}; }
};

// What the backup does with one listed file: reuse `prefix` bytes of the
// base state's version (`base`), and store the rest as `fresh` chunks.
struct Plan {
  const ListedItem* item = nullptr;
  const FileEntry* base = nullptr;
  uint64_t prefix = 0;
  std::vector<Chunk> fresh;
  std::atomic<size_t> pieces_left{0};
};

struct Piece {
  size_t plan = 0;
  size_t index = 0;  // into plan.fresh
  uint64_t offset = 0;
  uint64_t size = 0;
};

class Job {
 public:
  Job(Repository& repository, const bkp::Source& source, const bkp::Operation& op,
      const bkp::Host& host, const BackupOptions& options, uint32_t type, RepositoryLock* lock)
      : repo_(repository),
        lock_(lock),
        source_(source),
        op_(op),
        host_(host),
        options_(options),
        incremental_(type == BKP_BACKUP_INCREMENTAL),
        limiter_(options.rate_limit_bps),
        parallel_(options.workers) {}

  BackupStats Run() {
    Manifest manifest;
    manifest.created_ms = NowMs();
    manifest.id = NewBackupId(manifest.created_ms);
    manifest.type = incremental_ ? "incremental" : "full";
    manifest.provider = options_.provider_name;
    manifest.provider_version = options_.provider_version;
    manifest.abi_version = AbiVersionText(options_.abi_version);
    manifest.timeline = options_.timeline;
    LoadBase();
    if (incremental_) manifest.parent = base_->tip.id;
    // A backup with nothing to build on reads nothing of the base: it
    // checks every file, trivially.
    full_check_ = !base_ || base_->tip.since_full_check + 1 >= options_.full_check_every;
    manifest.since_full_check = full_check_ ? 0 : base_->tip.since_full_check + 1;
    if (full_check_ && base_ && options_.full_check_every > 1) {
      host_.log(BKP_LOG_INFO,
                "full re-check: reading the tail of every file the last backup "
                "holds (every " +
                    std::to_string(options_.full_check_every) + " backups)");
    }

    // List everything first, in the host's order: each listing fixes what
    // the backup holds of that role. The listed sizes of closed segments and
    // of the active segments' whole records do not change afterwards (the
    // host pins them), so the files can then be read in any order.
    for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
      source_.list(role, [&](const bkp_item& item) {
        items_.push_back({item.role, item.context ? item.context : "", item.name, item.id,
                          item.size, item.base, item.next, (item.flags & BKP_ITEM_CLOSED) != 0});
        bytes_total_ += item.size;
      });
      if (role == BKP_ROLE_CONTROL_DB) {
        source_.contexts([&](const bkp_context_info& c) {
          manifest.contexts.push_back({c.name, c.term, c.commit_index, {}, {}, {}});
        });
      }
    }
    files_total_ = items_.size();

    // Objects to manifest under the publish lock (see Repository).
    auto publishing = repo_.PublishLock();
    // What verify found lost is stored again first, where the host still
    // has those very bytes: older backups heal, and this one may reuse it.
    {
      // Freed before the files are planned: a map of every file.
      LiveFiles live;
      for (const auto& item : items_) live[item.key()] = {item.id, item.size};
      StoreLostObjects(repo_, source_, live, op_, host_, limiter_);
    }
    // What is still damaged in place (its bytes not at hand above) is
    // neither reused nor trusted as a chunk's stored copy.
    damaged_ = PendingObjects(repo_.driver(), QuarantinedObjects(repo_.driver()));
    plans_ = std::vector<Plan>(items_.size());
    parallel_.Run(items_.size(), [&](size_t i, size_t) { PlanItem(i); });
    if (files_trusted_ > 0) {
      host_.log(BKP_LOG_INFO,
                std::to_string(files_trusted_.load()) +
                    " closed segments reused unread on the host's word; the backup " +
                    std::to_string(options_.full_check_every - manifest.since_full_check) +
                    " after this one reads every tail again");
    }
    StorePieces();
    op_.throw_if_cancelled("backup");
    // A piece stored over a damaged object made it whole (StorePieces has
    // committed everything by now).
    for (const Plan& plan : plans_) {
      for (const Chunk& c : plan.fresh) {
        if (damaged_.count(c.object) > 0) ClearPending(repo_.driver(), c.object);
      }
    }

    FillRanges(&manifest);
    BuildFiles(&manifest);
    manifest.bytes_new = bytes_new_;
    manifest.completed_ms = NowMs();
    phase_ = BKP_PHASE_FINISHING;
    Report(true);
    if (lock_ != nullptr) lock_->CheckHeld();
    repo_.Publish(manifest);

    BackupStats stats;
    stats.id = manifest.id;
    stats.files = items_.size();
    stats.bytes_read = bytes_read_;
    stats.bytes_reused = bytes_reused_;
    stats.bytes_new = bytes_new_;
    return stats;
  }

 private:
  // The state of the newest backup. An incremental cannot go without it; a
  // full one only reuses less, so a broken chain is logged and skipped.
  void LoadBase() {
    quarantined_ = QuarantinedObjects(repo_.driver());
    const auto ids = repo_.ListIds();
    if (ids.empty()) {
      if (incremental_) {
        throw bkp::Error(BKP_E_MISSING_FULL_BACKUP,
                         "an incremental backup needs a full backup to build on, and " +
                             repo_.Describe() + " holds none: take a full backup first");
      }
      return;
    }
    try {
      base_ = ResolveState(repo_, ids.back(), /*explain=*/incremental_);
    } catch (const bkp::Error& e) {
      if (incremental_) {
        throw bkp::Error(e.status(), std::string("an incremental backup builds on the newest "
                                                 "backup, which cannot be used: ") +
                                         e.what() + " (a full backup starts a new chain)");
      }
      host_.log(BKP_LOG_WARN, std::string("the newest backup cannot be resolved, so nothing is "
                                          "reused from it: ") +
                                  e.what());
    }
    // A backup of another timeline holds another history under the same
    // file names: nothing of it is built on.
    if (base_ && base_->tip.timeline != options_.timeline) {
      if (incremental_) {
        throw bkp::Error(BKP_E_MISSING_FULL_BACKUP,
                         "the newest backup, '" + base_->tip.id + "', was taken on timeline " +
                             std::to_string(base_->tip.timeline) +
                             " and this host is on timeline " + std::to_string(options_.timeline) +
                             " (it was restored from the archive since): take a full backup to "
                             "start a chain on this timeline");
      }
      base_.reset();
    }
  }

  // Decides how much of the file the base already holds. Reads at most the
  // last 4 KiB of that prefix.
  void PlanItem(size_t i) {
    op_.throw_if_cancelled("backup");
    const ListedItem& item = items_[i];
    Plan& plan = plans_[i];
    plan.item = &item;
    if (base_ && item.role != BKP_ROLE_CONTROL_DB) {
      auto found = base_->files.find(item.key());
      if (found != base_->files.end()) plan.base = &found->second;
    }
    if (plan.base != nullptr && PrefixStillHolds(item, *plan.base)) {
      plan.prefix = plan.base->size;
      bytes_reused_ += plan.prefix;
      Advance(plan.prefix, 0);
    } else {
      plan.base = nullptr;
    }
    if (plan.prefix == item.size) Advance(0, 1);
  }

  // The host vouches for a closed segment it lists as the base holds it:
  // same name (the key), size and range, closed then and now.
  static bool HostVouches(const ListedItem& item, const FileEntry& base) {
    return item.closed && base.closed && item.size == base.size && item.base == base.base &&
           item.next == base.next && !base.chunks.empty();
  }

  bool PrefixStillHolds(const ListedItem& item, const FileEntry& base) {
    const bool trusted = !full_check_ && HostVouches(item, base);
    if (!trusted && !StillBeginsWith(Reader(item), item.size, base)) {
      if (HostVouches(item, base)) {
        host_.log(BKP_LOG_WARN, "closed segment '" + item.name + "' of context '" + item.context +
                                    "' changed behind the host's back (same name and size, "
                                    "other bytes): storing it whole");
        return false;
      }
      if (base.size <= item.size && !base.chunks.empty()) {
        host_.log(BKP_LOG_INFO, "'" + item.name + "' of context '" + item.context +
                                    "' no longer begins with the bytes the last backup holds: "
                                    "storing it whole");
      }
      return false;
    }
    // A full backup stands alone: it must not name objects that are gone.
    // An incremental relies on its chain instead, which verify checks; but
    // neither builds on an object verify set aside as damaged (unless a
    // backup since stored those bytes anew): storing the file again here
    // is what heals it.
    for (const auto& c : base.chunks) {
      if (damaged_.count(c.object) > 0) return false;  // damaged in place
      if (!incremental_ || quarantined_.count(c.object) > 0) {
        if (repo_.driver().Stat(c.object) != c.stored_size) return false;
      }
    }
    if (trusted) ++files_trusted_;
    return true;
  }

  ReadAt Reader(const ListedItem& item) const {
    return [this, &item](uint64_t offset, void* buf, size_t len) {
      const size_t got = source_.read(item.id, offset, buf, len);
      if (got != len) {
        throw bkp::Error(BKP_E_IO, "'" + item.name + "' of context '" + item.context +
                                       "' ended at byte " + std::to_string(offset + got) + " of " +
                                       std::to_string(item.size) + " listed");
      }
    };
  }

  void StorePieces() {
    std::vector<Piece> pieces;
    for (size_t p = 0; p < plans_.size(); ++p) {
      Plan& plan = plans_[p];
      for (uint64_t at = plan.prefix; at < plan.item->size; at += kMaxChunkBytes) {
        pieces.push_back(
            {p, plan.fresh.size(), at, std::min(kMaxChunkBytes, plan.item->size - at)});
        plan.fresh.emplace_back();
      }
      plan.pieces_left = plan.fresh.size();
    }
    // Largest first, so no worker is left with one big file at the end.
    std::stable_sort(pieces.begin(), pieces.end(),
                     [](const Piece& a, const Piece& b) { return a.size > b.size; });
    std::vector<std::unique_ptr<char[]>> buffers(parallel_.workers());
    // A commit that waits on the disk waits off the workers, in batches
    // (committer.h). Everything submitted is durable once Finish returns,
    // below, and the manifest that names it is written only after that.
    std::optional<Committer> committer;
    StorageDriver& driver = repo_.driver();
    if (driver.CommitWaitsOnStorage()) {
      committer.emplace(
          parallel_.workers(), kCommitCapacity,
          [&driver](std::vector<PendingObject>& batch) { driver.CommitBatch(batch); });
    }
    parallel_.Run(pieces.size(), [&](size_t i, size_t worker) {
      auto& buf = buffers[worker];
      if (!buf) buf = NewReadBuffer();
      const Piece& piece = pieces[i];
      Plan& plan = plans_[piece.plan];
      phase_ = PhaseOfRole(plan.item->role);
      plan.fresh[piece.index] = Store(*plan.item, piece.offset, piece.size,
                                      {buf.get(), kBlockBytes}, committer ? &*committer : nullptr);
      if (--plan.pieces_left == 0) Advance(0, 1);
    });
    if (committer) committer->Finish();
  }

  Chunk Store(const ListedItem& item, uint64_t offset, uint64_t size, std::span<char> buf,
              Committer* committer) {
    ChunkSink sink{repo_.driver(),
                   limiter_,
                   [this] {
                     op_.throw_if_cancelled("backup");
                     // The first failure is the one reported; this only stops the others.
                     if (parallel_.failed()) {
                       throw bkp::Error(BKP_E_INTERNAL, "stopped: another worker failed");
                     }
                   },
                   [this](uint64_t n) {
                     bytes_read_ += n;
                     Advance(n, 0);
                   },
                   bytes_new_,
                   committer,
                   &damaged_,
                   options_.compression};
    return StoreChunk(sink, Reader(item), offset, size, buf);
  }

  // Moves the plans' fresh chunks into the manifest, freeing each plan's
  // as it goes: at tens of thousands of files, two copies would be the
  // backup's largest holding.
  void BuildFiles(Manifest* m) {
    std::set<FileKey> present;  // an incremental's, for what was dropped
    if (!incremental_) m->files.reserve(plans_.size());
    for (Plan& plan : plans_) {
      const ListedItem& item = *plan.item;
      if (incremental_) present.insert(item.key());
      // An incremental leaves out what its parent holds already.
      if (incremental_ && plan.base != nullptr && plan.prefix == item.size) continue;
      FileEntry e;
      e.role = item.role;
      e.context = item.context;
      e.name = item.name;
      e.base = item.base;
      e.next = item.next;
      e.closed = item.closed && item.role != BKP_ROLE_CONTROL_DB;
      e.size = item.size;
      if (plan.base != nullptr) {
        if (incremental_) {
          e.inherit = plan.prefix;
        } else {
          e.chunks = plan.base->chunks;
        }
      }
      e.chunks.insert(e.chunks.end(), std::make_move_iterator(plan.fresh.begin()),
                      std::make_move_iterator(plan.fresh.end()));
      std::vector<Chunk>().swap(plan.fresh);
      m->files.push_back(std::move(e));
    }
    if (incremental_) {
      for (const auto& [key, file] : base_->files) {
        if (present.count(key) == 0) m->dropped.push_back(key);
      }
    }
  }

  void Advance(uint64_t bytes, uint64_t files) {
    bytes_done_ += bytes;
    files_done_ += files;
    Report(files > 0);
  }

  void Report(bool force) {
    std::lock_guard lock(progress_mu_);
    const uint64_t done = bytes_done_;
    if (!force && done < last_reported_ + kProgressEvery) return;
    last_reported_ = done;
    bkp_progress p{};
    p.phase = phase_;
    p.bytes_done = done;
    p.bytes_total = bytes_total_;
    p.files_done = files_done_;
    p.files_total = files_total_;
    op_.progress(p);
  }

  // Every listed file counts, also those an incremental leaves out.
  void FillRanges(Manifest* m) const {
    std::map<std::string, ContextEntry*> by_name;
    for (auto& c : m->contexts) by_name[c.name] = &c;
    std::set<std::pair<std::string, uint32_t>> seen;
    for (const auto& f : items_) {  // each stream's files ascend by base
      auto it = by_name.find(f.context);
      if (it == by_name.end()) continue;
      StreamRange& r = f.role == BKP_ROLE_LOG      ? it->second->log
                       : f.role == BKP_ROLE_EVENTS ? it->second->events
                                                   : it->second->snapshots;
      if (seen.insert({f.context, f.role}).second) r.first = f.base;
      r.next = f.next;
    }
  }

  Repository& repo_;
  RepositoryLock* const lock_;
  const bkp::Source& source_;
  const bkp::Operation& op_;
  const bkp::Host& host_;
  const BackupOptions& options_;
  const bool incremental_;
  RateLimiter limiter_;
  ParallelFor parallel_;
  std::optional<BackupState> base_;
  std::set<std::string> quarantined_;  // objects verify set aside (quarantine.h)
  std::set<std::string> damaged_;      // of them, still stored but damaged (pending)
  std::vector<ListedItem> items_;
  std::vector<Plan> plans_;
  std::atomic<uint32_t> phase_{BKP_PHASE_CONTROL_DB};
  uint64_t bytes_total_ = 0;
  uint64_t files_total_ = 0;
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_reused_{0};
  std::atomic<uint64_t> bytes_new_{0};
  std::atomic<uint64_t> files_trusted_{0};
  bool full_check_ = true;  // this backup reads the tail of every reused file
  std::mutex progress_mu_;
  uint64_t last_reported_ = 0;
};

}  // namespace

BackupStats RunBackupJob(Repository& repository, const bkp::Source& source,
                         const bkp::Operation& op, const bkp::Host& host,
                         const BackupOptions& options, uint32_t type, RepositoryLock* lock) {
  return Job(repository, source, op, host, options, type, lock).Run();
}

}  // namespace repo
