// Restore (see restore_job.h).
#include "repo/restore_job.h"

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>

#include "repo/chain.h"
#include "repo/object_codec.h"
#include "repo/point_in_time.h"
#include "repo/quarantine.h"

namespace repo {
namespace {

// Decoded bytes queued between the decoding thread and the sink; a few MiB
// keep both busy without holding much.
constexpr size_t kQueuedBuffers = 8;

// Where a chunk comes from, for messages: the object and, when an ancestor
// stored it, which backup of the chain that is.
std::string ChunkLabel(const std::string& backup_id, const FileEntry& f, const Chunk& c) {
  std::string label = "backup '" + backup_id + "', " + FileLabel(f) + " bytes " +
                      std::to_string(c.offset) + "-" + std::to_string(c.end()) + " ('" + c.object +
                      "'";
  if (c.stored_by == kArchiveOrigin) {
    label += ", from the archive: restore to a point before " + FileLabel(f);
  } else if (!c.stored_by.empty() && c.stored_by != backup_id) {
    label += ", stored by backup '" + c.stored_by + "' of its chain";
  }
  return label + ")";
}

// A damaged chunk of the backup itself is corruption; one an ancestor or
// the archive stored is a broken link of the chain.
bkp_status DamageStatus(const std::string& backup_id, const Chunk& c) {
  return !c.stored_by.empty() && c.stored_by != backup_id ? BKP_E_BROKEN_CHAIN : BKP_E_CORRUPT;
}

// The decoding thread's output, in order: each file's bytes, then its end.
struct DecodedPiece {
  size_t file = 0;
  std::vector<char> bytes;  // empty: the file is complete
};

// A bounded hand-over from the decoding thread to the sink's thread. Either
// side can stop it; the other then sees Stopped().
class PieceQueue {
 public:
  // False once stopped.
  bool Push(DecodedPiece piece) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopped_ || queue_.size() < kQueuedBuffers; });
    if (stopped_) return false;
    queue_.push_back(std::move(piece));
    changed_.notify_all();
    return true;
  }
  // nullopt once stopped and drained.
  std::optional<DecodedPiece> Pop() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    DecodedPiece piece = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return piece;
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    changed_.notify_all();
  }
  // Recycled buffers, so the hot loop does not allocate.
  std::vector<char> Buffer() {
    std::lock_guard lock(mu_);
    if (spare_.empty()) return {};
    std::vector<char> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  void Recycle(std::vector<char> b) {
    b.clear();
    std::lock_guard lock(mu_);
    if (spare_.size() < kQueuedBuffers + 2) spare_.push_back(std::move(b));
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<DecodedPiece> queue_;
  std::vector<std::vector<char>> spare_;
  bool stopped_ = false;
};

}  // namespace

bkp_item RestoreItem(const FileEntry& f) {
  bkp_item item{};
  item.role = f.role;
  item.context = f.role == BKP_ROLE_CONTROL_DB ? nullptr : f.context.c_str();
  item.name = f.name.c_str();
  item.size = f.size;
  item.base = f.base;
  item.next = f.next;
  item.flags = f.closed ? BKP_ITEM_CLOSED : 0;
  return item;
}

RestoreStats RunRestoreJob(Repository& repository, const std::string& backup_id,
                           const bkp::Sink& sink, const bkp::Operation& op) {
  return RunRestoreJob(repository, ResolveState(repository, backup_id), sink, op);
}

RestoreStats RunRestoreJob(Repository& repository, const BackupState& state, const bkp::Sink& sink,
                           const bkp::Operation& op) {
  const std::string& backup_id = state.tip.id;
  const std::vector<FileEntry> files = state.RestoreOrder();

  // Every object must be there before the first byte goes to the sink.
  for (const auto& f : files) {
    for (const auto& c : f.chunks) {
      if (!repository.driver().Stat(c.object)) {
        std::string why = ChunkLabel(backup_id, f, c) + " is missing from " + repository.Describe();
        if (auto q = FindQuarantined(repository.driver(), c.object); q && q->set_aside) {
          why += " (verify set it aside as damaged: " + q->reason + ")";
        }
        throw bkp::Error(DamageStatus(backup_id, c), why + ": the backup cannot be restored");
      }
    }
  }

  // One thread decodes (and checks) while this one feeds the sink, so
  // decompression and the host's writes overlap.
  PieceQueue queue;
  std::exception_ptr decode_failure;
  struct Stopped {};  // the sink's side gave up: stop decoding, quietly
  std::thread decoder([&] {
    // The object after the one being decoded, so the driver can fetch it.
    std::vector<const std::string*> objects;
    for (const auto& f : files) {
      for (const auto& c : f.chunks) objects.push_back(&c.object);
    }
    size_t next_object = 0;
    try {
      for (size_t i = 0; i < files.size(); ++i) {
        for (const auto& c : files[i].chunks) {
          if (++next_object < objects.size()) repository.driver().Prefetch(*objects[next_object]);
          auto reader = repository.driver().Open(c.object);
          try {
            DecodeObject(
                *reader, c.codec, ChunkLabel(backup_id, files[i], c), c.size, c.xxh3,
                [&](const char* data, size_t len) {
                  std::vector<char> b = queue.Buffer();
                  b.assign(data, data + len);
                  if (!queue.Push({i, std::move(b)})) throw Stopped{};
                },
                FrameCheck::kContentOnly);
          } catch (const bkp::Error& e) {
            throw bkp::Error(DamageStatus(backup_id, c), e.what());
          }
        }
        if (!queue.Push({i, {}})) throw Stopped{};
      }
    } catch (const Stopped&) {
    } catch (...) {
      decode_failure = std::current_exception();
    }
    queue.Stop();
  });
  // However this thread leaves, the decoder is stopped and joined first.
  struct Join {
    PieceQueue& queue;
    std::thread& thread;
    ~Join() {
      queue.Stop();
      if (thread.joinable()) thread.join();
    }
  } join{queue, decoder};

  RestoreStats stats;
  bkp_progress progress{};
  progress.bytes_total = state.TotalBytes();
  progress.files_total = files.size();
  constexpr size_t kNone = SIZE_MAX;
  size_t open = kNone;  // the file begun on the sink, if any
  while (auto piece = queue.Pop()) {
    op.throw_if_cancelled("restore");
    const FileEntry& f = files[piece->file];
    if (open != piece->file) {
      sink.begin(RestoreItem(f));
      open = piece->file;
    }
    if (piece->bytes.empty()) {
      sink.end();
      open = kNone;
      ++stats.files;
      progress.phase = PhaseOfRole(f.role);
      progress.files_done = stats.files;
      op.progress(progress);
      continue;
    }
    sink.write(piece->bytes.data(), piece->bytes.size());
    stats.bytes += piece->bytes.size();
    progress.bytes_done = stats.bytes;
    queue.Recycle(std::move(piece->bytes));
  }
  // The queue ends when the decoder is done or failed.
  decoder.join();
  if (decode_failure) std::rethrow_exception(decode_failure);
  if (stats.files != files.size()) {
    throw bkp::Error(BKP_E_INTERNAL, "restore of backup '" + backup_id + "' stopped after " +
                                         std::to_string(stats.files) + " of " +
                                         std::to_string(files.size()) + " files");
  }
  return stats;
}

}  // namespace repo
