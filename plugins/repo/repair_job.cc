// Storing lost objects again (see repair_job.h).
#include "repo/repair_job.h"

#include <algorithm>
#include <atomic>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "repo/archive.h"
#include "repo/chunk_store.h"
#include "repo/quarantine.h"
#include "repo/xxh3_state.h"
#include "repo/xxhash_dispatch.h"

namespace repo {
namespace {

// Where a missing object is referenced: which bytes of which host file.
struct Reference {
  FileKey file;
  uint64_t offset = 0;
  uint64_t size = 0;
  std::string by;  // "backup 'ID'" or "archive record 'KEY'"
};

class Repair {
 public:
  Repair(Repository& repository, const bkp::Source& source, const LiveFiles& live,
         const bkp::Operation& op, const bkp::Host& host, RateLimiter& limiter)
      : repo_(repository), source_(source), live_(live), op_(op), host_(host), limiter_(limiter) {}

  RepairStats Run() {
    std::set<std::string> lost;
    const std::set<std::string> quarantined = QuarantinedObjects(repo_.driver());
    for (const auto& object : quarantined) {
      if (!repo_.driver().Stat(object)) lost.insert(object);
    }
    // Damaged in place (verify could not move them): as good as lost.
    damaged_ = PendingObjects(repo_.driver(), quarantined);
    lost.insert(damaged_.begin(), damaged_.end());
    if (lost.empty()) return stats_;  // the usual case: nothing more to read
    CollectReferences();
    for (const auto& [object, refs] : references_) {
      op_.throw_if_cancelled("backup");
      if (lost.count(object) == 0) continue;
      ++stats_.lost;
      RepairOne(object, refs);
    }
    return stats_;
  }

 private:
  void CollectReferences() {
    std::vector<BrokenManifest> broken;
    for (const auto& m : repo_.LoadAll(&broken)) {
      for (const auto& f : m.files) {
        for (const auto& c : f.chunks) {
          references_[c.object].push_back({f.key(), c.offset, c.size, "backup '" + m.id + "'"});
        }
      }
    }
    for (const auto& b : broken) {
      host_.log(BKP_LOG_WARN, "backup '" + b.id + "' cannot be repaired: " + b.error);
    }
    for (const auto& key : ArchiveRecordKeys(repo_.driver())) {
      try {
        const ArchivedSegment record = LoadArchiveRecord(repo_.driver(), key);
        for (const auto& c : record.file.chunks) {
          references_[c.object].push_back(
              {record.file.key(), c.offset, c.size, "archive record '" + key + "'"});
        }
      } catch (const bkp::Error& e) {
        host_.log(BKP_LOG_WARN, "archive record '" + key + "' cannot be repaired: " + e.what());
      }
    }
  }

  ReadAt Reader(const FileKey& file, const LiveFile& live) const {
    return [this, file, live](uint64_t offset, void* buf, size_t len) {
      const size_t got = source_.read(live.id, offset, buf, len);
      if (got != len) {
        throw bkp::Error(BKP_E_IO, "the host's " + FileLabel(file) + " ended at byte " +
                                       std::to_string(offset + got));
      }
    };
  }

  // The key the host's bytes [offset, offset + size) would be stored under
  // as a frame of `codec`.
  std::string LiveKey(const ReadAt& read, uint64_t offset, uint64_t size, Codec codec) {
    Xxh3State hash;
    XXH3_state_t* state = hash.get();
    XXH3_128bits_reset(state);
    const auto buf = NewReadBuffer();
    for (uint64_t at = offset; at < offset + size;) {
      op_.throw_if_cancelled("backup");
      const size_t n = static_cast<size_t>(std::min<uint64_t>(kBlockBytes, offset + size - at));
      limiter_.Acquire(n);
      read(at, buf.get(), n);
      XXH3_128bits_update(state, buf.get(), n);
      stats_.bytes_read += n;
      at += n;
    }
    return ObjectKeyOf(repo_.driver(), XXH3_128bits_digest(state), codec);
  }

  void RepairOne(const std::string& object, const std::vector<Reference>& refs) {
    std::vector<std::string> why;
    for (const auto& ref : refs) {
      const std::string what = FileLabel(ref.file) + " bytes " + std::to_string(ref.offset) + "-" +
                               std::to_string(ref.offset + ref.size);
      auto live = live_.find(ref.file);
      if (live == live_.end()) {
        why.push_back("the host no longer has " + FileLabel(ref.file) + " (" + ref.by + ")");
        continue;
      }
      if (live->second.size < ref.offset + ref.size) {
        why.push_back("the host's " + FileLabel(ref.file) + " holds " +
                      std::to_string(live->second.size) + " bytes, not " + what + " (" + ref.by +
                      ")");
        continue;
      }
      const ReadAt read = Reader(ref.file, live->second);
      // Nothing is written unless the bytes are the very ones lost.
      const Codec codec = CodecOfObject(object);
      if (LiveKey(read, ref.offset, ref.size, codec) != object) {
        why.push_back("the host's " + what + " are no longer the bytes stored (" + ref.by + ")");
        continue;
      }
      std::atomic<uint64_t> added{0};
      ChunkSink sink{repo_.driver(), limiter_, [this] { op_.throw_if_cancelled("backup"); },
                     nullptr, added};
      sink.damaged = &damaged_;  // stored over the damaged object of that name
      // In the lost object's codec, to land under its key (any zstd level
      // does: the name is the original bytes' hash).
      sink.compression = {codec, codec == Codec::kZstd ? kDefaultZstdLevel : 0};
      const auto buf = NewReadBuffer();
      const Chunk stored = StoreChunk(sink, read, ref.offset, ref.size, {buf.get(), kBlockBytes});
      stats_.bytes_read += ref.size;
      stats_.bytes_new += added;
      if (stored.object != object) {
        why.push_back("the host's " + what + " changed while being read (" + ref.by + ")");
        continue;
      }
      // Its bytes are right now: nothing is pending any more.
      if (damaged_.count(object) > 0) ClearPending(repo_.driver(), object);
      ++stats_.repaired;
      host_.log(BKP_LOG_INFO, "stored '" + object + "' again from the host's " + what);
      return;
    }
    std::string list;
    for (const auto& w : why) list += (list.empty() ? "" : "; ") + w;
    host_.log(BKP_LOG_WARN, "cannot repair '" + object + "': " + list);
  }

  Repository& repo_;
  const bkp::Source& source_;
  const LiveFiles& live_;
  const bkp::Operation& op_;
  const bkp::Host& host_;
  RateLimiter& limiter_;
  std::map<std::string, std::vector<Reference>> references_;
  std::set<std::string> damaged_;  // of them, still stored but damaged (pending)
  RepairStats stats_;
};

}  // namespace

RepairStats StoreLostObjects(Repository& repository, const bkp::Source& source,
                             const LiveFiles& live, const bkp::Operation& op, const bkp::Host& host,
                             RateLimiter& limiter) {
  return Repair(repository, source, live, op, host, limiter).Run();
}

}  // namespace repo
