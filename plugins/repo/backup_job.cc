// The backup pipeline (see backup_job.h).
#include "backup_job.h"

#include <xxhash.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>
#include <vector>

#include "object_codec.h"
#include "rate_limiter.h"

namespace repo {
namespace {

constexpr uint64_t kTailBytes = 4096;
constexpr uint64_t kProgressEvery = 8ull << 20;

struct ListedItem {
  uint32_t role = 0;
  std::string context;
  std::string name;
  uint64_t id = 0;
  uint64_t size = 0;
  uint64_t base = 0;
  uint64_t next = 0;
  bool closed = false;
};

using Identity = std::tuple<std::string, uint32_t, std::string, uint64_t, uint64_t>;

class Job {
 public:
  Job(Repository& repository, const bkp::Source& source, const bkp::Operation& op,
      const bkp::Host& host, const BackupOptions& options)
      : repo_(repository),
        source_(source),
        op_(op),
        host_(host),
        options_(options),
        limiter_(options.rate_limit_bps) {}

  BackupStats Run() {
    Manifest manifest;
    manifest.created_ms = NowMs();
    manifest.id = NewBackupId(manifest.created_ms);
    manifest.type = "full";
    manifest.provider = options_.provider_name;
    manifest.provider_version = options_.provider_version;
    manifest.abi_version = "1.0";
    BuildReuseIndex();

    // List everything first, in the host's order: each listing fixes what
    // the backup holds of that role, and the totals are known up front.
    std::vector<std::vector<ListedItem>> roles;
    for (uint32_t role : {BKP_ROLE_CONTROL_DB, BKP_ROLE_LOG, BKP_ROLE_EVENTS, BKP_ROLE_SNAPSHOTS}) {
      auto& items = roles.emplace_back();
      source_.list(role, [&](const bkp_item& item) {
        items.push_back({item.role, item.context ? item.context : "", item.name, item.id, item.size,
                         item.base, item.next, (item.flags & BKP_ITEM_CLOSED) != 0});
        bytes_total_ += item.size;
        ++files_total_;
      });
      if (role == BKP_ROLE_CONTROL_DB) {
        source_.contexts([&](const bkp_context_info& c) {
          manifest.contexts.push_back({c.name, c.term, c.commit_index, {}, {}, {}});
        });
      }
    }

    for (auto& items : roles) {
      if (items.empty()) continue;
      phase_ = PhaseOfRole(items.front().role);
      auto entries = StoreAll(items);
      manifest.files.insert(manifest.files.end(), entries.begin(), entries.end());
    }
    op_.throw_if_cancelled("backup");
    FillRanges(&manifest);
    manifest.bytes_new = bytes_new_;
    manifest.completed_ms = NowMs();
    phase_ = BKP_PHASE_FINISHING;
    Report(true);
    repo_.Publish(manifest);

    BackupStats stats;
    stats.id = manifest.id;
    stats.files = manifest.files.size();
    stats.bytes_read = bytes_read_;
    stats.bytes_reused = bytes_reused_;
    stats.bytes_new = bytes_new_;
    return stats;
  }

 private:
  // Closed segments of every readable backup, by identity. An unreadable
  // manifest only means less reuse, so it is logged and skipped.
  void BuildReuseIndex() {
    std::vector<BrokenManifest> broken;
    for (const auto& m : repo_.LoadAll(&broken)) {
      for (const auto& f : m.files) {
        if (f.closed && f.tail_xxh3) {
          reuse_.emplace(Identity{f.context, f.role, f.name, f.size, *f.tail_xxh3}, f);
        }
      }
    }
    for (const auto& b : broken) {
      host_.log(BKP_LOG_WARN, "skipping unreadable manifest of backup '" + b.id + "': " + b.error);
    }
  }

  std::vector<FileEntry> StoreAll(const std::vector<ListedItem>& items) {
    std::vector<FileEntry> entries(items.size());
    std::atomic<size_t> next{0};
    std::exception_ptr failure;
    std::mutex failure_mu;
    auto worker = [&] {
      std::vector<char> buf(kChunkBytes);
      for (size_t i; (i = next.fetch_add(1)) < items.size();) {
        if (failed_) return;
        try {
          entries[i] = Store(items[i], buf);
        } catch (...) {
          std::lock_guard lock(failure_mu);
          if (!failure) failure = std::current_exception();
          failed_ = true;
          return;
        }
      }
    };
    const size_t n = std::min<size_t>(std::max<uint32_t>(options_.workers, 1), items.size());
    std::vector<std::thread> threads;
    for (size_t t = 1; t < n; ++t) threads.emplace_back(worker);
    worker();
    for (auto& t : threads) t.join();
    if (failure) std::rethrow_exception(failure);
    return entries;
  }

  uint64_t TailChecksum(const ListedItem& item, std::vector<char>& buf) {
    const uint64_t len = std::min(kTailBytes, item.size);
    const size_t got = source_.read(item.id, item.size - len, buf.data(), len);
    if (got != len) ShortRead(item, item.size - len + got);
    return XXH3_64bits(buf.data(), got);
  }

  [[noreturn]] void ShortRead(const ListedItem& item, uint64_t at) {
    throw bkp::Error(BKP_E_IO, "'" + item.name + "' of context '" + item.context +
                                   "' ended at byte " + std::to_string(at) + " of " +
                                   std::to_string(item.size) + " listed");
  }

  FileEntry Store(const ListedItem& item, std::vector<char>& buf) {
    FileEntry e;
    e.role = item.role;
    e.context = item.context;
    e.name = item.name;
    e.base = item.base;
    e.next = item.next;
    e.closed = item.closed && item.role != BKP_ROLE_CONTROL_DB;
    e.size = item.size;
    if (e.closed) {
      e.tail_xxh3 = TailChecksum(item, buf);
      auto hit = reuse_.find(Identity{item.context, item.role, item.name, item.size, *e.tail_xxh3});
      if (hit != reuse_.end() &&
          repo_.driver().Stat(hit->second.object) == hit->second.stored_size) {
        e.xxh3 = hit->second.xxh3;
        e.object = hit->second.object;
        e.stored_size = hit->second.stored_size;
        bytes_reused_ += item.size;
        Advance(item.size, 1);
        return e;
      }
    }

    auto writer = repo_.driver().Create();
    FrameEncoder encoder(*writer, item.size);
    uint64_t offset = 0;
    while (offset < item.size) {
      op_.throw_if_cancelled("backup");
      // The first failure is the one reported; this only stops the others.
      if (failed_) throw bkp::Error(BKP_E_INTERNAL, "stopped: another worker failed");
      const size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), item.size - offset));
      limiter_.Acquire(want);
      const size_t got = source_.read(item.id, offset, buf.data(), want);
      if (got == 0) ShortRead(item, offset);
      encoder.Update(buf.data(), got);
      offset += got;
      bytes_read_ += got;
      Advance(got, 0);
    }
    const EncodedObject encoded = encoder.Finish();
    e.xxh3 = encoded.xxh3;
    e.object = "objects/" + encoded.xxh128_hex.substr(0, 2) + "/" + encoded.xxh128_hex + ".lz4";
    if (auto existing = repo_.driver().Stat(e.object)) {
      e.stored_size = *existing;  // identical content is stored already
    } else {
      writer->Commit(e.object);
      e.stored_size = encoded.stored_size;
      bytes_new_ += encoded.stored_size;
    }
    Advance(0, 1);
    return e;
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

  static void FillRanges(Manifest* m) {
    std::map<std::string, ContextEntry*> by_name;
    for (auto& c : m->contexts) by_name[c.name] = &c;
    std::set<std::pair<std::string, uint32_t>> seen;
    for (const auto& f : m->files) {  // each stream's files ascend by base
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
  const bkp::Source& source_;
  const bkp::Operation& op_;
  const bkp::Host& host_;
  const BackupOptions& options_;
  RateLimiter limiter_;
  std::map<Identity, FileEntry> reuse_;
  std::atomic<bool> failed_{false};
  std::atomic<uint32_t> phase_{BKP_PHASE_CONTROL_DB};
  uint64_t bytes_total_ = 0;
  uint64_t files_total_ = 0;
  std::atomic<uint64_t> bytes_done_{0};
  std::atomic<uint64_t> files_done_{0};
  std::atomic<uint64_t> bytes_read_{0};
  std::atomic<uint64_t> bytes_reused_{0};
  std::atomic<uint64_t> bytes_new_{0};
  std::mutex progress_mu_;
  uint64_t last_reported_ = 0;
};

}  // namespace

BackupStats RunBackupJob(Repository& repository, const bkp::Source& source,
                         const bkp::Operation& op, const bkp::Host& host,
                         const BackupOptions& options) {
  return Job(repository, source, op, host, options).Run();
}

}  // namespace repo
