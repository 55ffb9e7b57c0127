// Restore (see restore_job.h).
#include "repo/restore_job.h"

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>

#include "repo/chain.h"
#include "repo/object_codec.h"
#include "repo/point_in_time.h"
#include "repo/quarantine.h"

namespace repo {
namespace {

// Blocks queued between the decoder and the sink, and between the fetcher
// and the decoder: a few MiB keep every stage busy without holding much
// (the driver reads ahead of the fetcher by itself: Prefetch).
constexpr size_t kQueuedPieces = 8;
constexpr size_t kQueuedBlocks = 4;

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

// The sink's side, or the decoder's, gave up: stop the stage, quietly.
struct Stopped {};

// The decoding thread's output, in order: each file's bytes, then its end.
struct DecodedPiece {
  size_t file = 0;
  std::vector<char> bytes;  // decoded into (kBlockBytes long), `len` of them
  size_t len = 0;           // 0: the file is complete
};

// The fetching thread's output, in order: each object's stored bytes as
// read (and, in an encrypted repository, decrypted) by its driver, then its
// end; or how opening or reading it failed.
struct FetchedBlock {
  size_t object = 0;
  std::vector<char> bytes;  // kBlockBytes long, `len` of them read
  size_t len = 0;           // 0: the object ends here (or failed)
  uint64_t object_size = 0;
  std::exception_ptr open_failure;  // Open threw: the object's first entry
  std::exception_ptr read_failure;  // Read threw, after the bytes before
};

// A bounded hand-over from one thread to the next. Either side can stop it;
// the other then sees Push return false, or Pop nullopt once drained.
template <typename Item>
class HandOver {
 public:
  explicit HandOver(size_t capacity) : capacity_(capacity) {}
  // False once stopped.
  bool Push(Item item) {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopped_ || queue_.size() < capacity_; });
    if (stopped_) return false;
    queue_.push_back(std::move(item));
    changed_.notify_all();
    return true;
  }
  // nullopt once stopped and drained.
  std::optional<Item> Pop() {
    std::unique_lock lock(mu_);
    changed_.wait(lock, [&] { return stopped_ || !queue_.empty(); });
    if (queue_.empty()) return std::nullopt;
    Item item = std::move(queue_.front());
    queue_.pop_front();
    changed_.notify_all();
    return item;
  }
  void Stop() {
    std::lock_guard lock(mu_);
    stopped_ = true;
    changed_.notify_all();
  }
  // Recycled buffers, so the hot loops do not allocate (or zero-fill: a
  // recycled buffer keeps its size).
  std::vector<char> Buffer() {
    std::lock_guard lock(mu_);
    if (spare_.empty()) return {};
    std::vector<char> b = std::move(spare_.back());
    spare_.pop_back();
    return b;
  }
  void Recycle(std::vector<char> b) {
    if (b.capacity() == 0) return;
    std::lock_guard lock(mu_);
    if (spare_.size() < capacity_ + 2) spare_.push_back(std::move(b));
  }

 private:
  const size_t capacity_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  std::vector<std::vector<char>> spare_;
  bool stopped_ = false;
};

// Reads every object in restore order on a thread of its own, a block at a
// time, so that the storage's reads (and an encrypted repository's
// decryption, which its driver's reader does) overlap the decoding. A
// failure is handed over in its place in the order, for the decoder to
// throw where reading that object would have thrown.
void FetchObjects(StorageDriver& driver, const std::vector<const std::string*>& objects,
                  HandOver<FetchedBlock>& out) {
  for (size_t k = 0; k < objects.size(); ++k) {
    if (k + 1 < objects.size()) driver.Prefetch(*objects[k + 1]);
    std::unique_ptr<ObjectReader> reader;
    try {
      reader = driver.Open(*objects[k]);
    } catch (...) {
      FetchedBlock failed;
      failed.object = k;
      failed.open_failure = std::current_exception();
      out.Push(std::move(failed));
      return;
    }
    const uint64_t size = reader->size();
    while (true) {
      FetchedBlock block;
      block.object = k;
      block.bytes = out.Buffer();
      block.object_size = size;
      if (block.bytes.size() < kBlockBytes) block.bytes.resize(kBlockBytes);
      try {
        block.len = reader->Read(block.bytes.data(), block.bytes.size());
      } catch (...) {
        block.len = 0;
        block.read_failure = std::current_exception();
        out.Push(std::move(block));
        return;
      }
      if (block.len == 0) break;
      if (!out.Push(std::move(block))) return;
    }
    FetchedBlock end;
    end.object = k;
    end.object_size = size;
    if (!out.Push(std::move(end))) return;
  }
}

// One object's stored bytes as FetchObjects handed them over, read back as
// the decoder reads an object.
class FetchedReader final : public ObjectReader {
 public:
  // Takes the object's first entry: throws what opening it threw.
  FetchedReader(HandOver<FetchedBlock>& in, size_t object) : in_(in) {
    Next();
    if (current_.object != object) throw Stopped{};  // cannot happen: the order is one
    if (current_.open_failure) std::rethrow_exception(current_.open_failure);
  }
  // Whether the storage failed (opening or reading the object), rather
  // than the decoding of what it gave.
  bool storage_failed() const { return storage_failed_; }
  ~FetchedReader() override { in_.Recycle(std::move(current_.bytes)); }

  size_t Read(void* buf, size_t len) override {
    while (pos_ == current_.len) {
      if (current_.read_failure) {
        storage_failed_ = true;
        std::rethrow_exception(current_.read_failure);
      }
      if (current_.len == 0) return 0;  // the end of the object
      in_.Recycle(std::move(current_.bytes));
      Next();
    }
    const size_t n = std::min(len, current_.len - pos_);
    std::memcpy(buf, current_.bytes.data() + pos_, n);
    pos_ += n;
    return n;
  }
  uint64_t size() const override { return current_.object_size; }

 private:
  void Next() {
    std::optional<FetchedBlock> b = in_.Pop();
    if (!b) throw Stopped{};
    current_ = std::move(*b);
    pos_ = 0;
  }
  HandOver<FetchedBlock>& in_;
  FetchedBlock current_;
  size_t pos_ = 0;
  bool storage_failed_ = false;
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

  // Three stages, each on its thread: one fetches the stored bytes, one
  // decodes (and checks) them, and this one feeds the sink, so the
  // storage's reads, decompression and the host's writes overlap.
  HandOver<DecodedPiece> queue(kQueuedPieces);
  std::exception_ptr decode_failure;
  std::thread decoder([&] {
    std::vector<const std::string*> objects;
    for (const auto& f : files) {
      for (const auto& c : f.chunks) objects.push_back(&c.object);
    }
    HandOver<FetchedBlock> fetched(kQueuedBlocks);
    std::thread fetcher([&] { FetchObjects(repository.driver(), objects, fetched); });
    // However the decoder leaves, the fetcher is stopped and joined first.
    struct JoinFetcher {
      HandOver<FetchedBlock>& fetched;
      std::thread& thread;
      ~JoinFetcher() {
        fetched.Stop();
        thread.join();
      }
    } join_fetcher{fetched, fetcher};
    size_t next_object = 0;
    // The buffer being decoded into, handed to the sink once filled: the
    // decoded bytes are not copied on their way.
    std::vector<char> into;
    const auto next_buffer = [&]() -> char* {
      if (into.empty()) {
        into = queue.Buffer();
        if (into.size() < kBlockBytes) into.resize(kBlockBytes);
      }
      return into.data();
    };
    try {
      for (size_t i = 0; i < files.size(); ++i) {
        for (const auto& c : files[i].chunks) {
          const std::string what = ChunkLabel(backup_id, files[i], c);
          std::optional<FetchedReader> reader;
          try {
            reader.emplace(fetched, next_object++);
          } catch (const bkp::Error& e) {
            // As the driver said it (a missing object, no access), naming the chunk.
            throw bkp::Error(e.status(), what + ": " + e.what());
          }
          try {
            DecodeObject(
                *reader, c.codec, what, c.size, c.xxh3,
                [&](const char* data, size_t len) {
                  DecodedPiece piece{i, {}, len};
                  if (!into.empty() && data == into.data()) {
                    piece.bytes = std::move(into);  // decoded in place
                    into = {};
                  } else {
                    piece.bytes = queue.Buffer();
                    piece.bytes.assign(data, data + len);
                  }
                  if (!queue.Push(std::move(piece))) throw Stopped{};
                },
                FrameCheck::kContentOnly, next_buffer);
          } catch (const bkp::Error& e) {
            // The decoder's messages name the chunk already; the storage's
            // do not.
            throw bkp::Error(DamageStatus(backup_id, c),
                             reader->storage_failed() ? what + ": " + e.what() : e.what());
          }
        }
        if (!queue.Push({i, {}, 0})) throw Stopped{};
      }
    } catch (const Stopped&) {
    } catch (...) {
      decode_failure = std::current_exception();
    }
    queue.Stop();
  });
  // However this thread leaves, the decoder is stopped and joined first.
  struct Join {
    HandOver<DecodedPiece>& queue;
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
    if (piece->len == 0) {
      sink.end();
      open = kNone;
      ++stats.files;
      progress.phase = PhaseOfRole(f.role);
      progress.files_done = stats.files;
      op.progress(progress);
      continue;
    }
    sink.write(piece->bytes.data(), piece->len);
    stats.bytes += piece->len;
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
