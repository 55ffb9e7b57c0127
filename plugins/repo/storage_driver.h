// StorageDriver: the one small interface between the repository engine and
// where a repository lives (a directory now, an S3 bucket later), in the
// manner of LevelDB's Env. Keys are '/'-separated relative paths.
//
// Errors: every operation throws bkp::Error with a status (BKP_E_IO,
// BKP_E_NO_SPACE, BKP_E_NOT_FOUND, ...) and a message naming the object.
// Thread-safety: a driver is shared by the engine's worker threads: every
// method must be safe to call concurrently. Writers and readers are used by
// one thread at a time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace repo {

// A new object being written. Nothing is visible under any key until
// Commit; destroying an uncommitted writer discards what it wrote.
class ObjectWriter {
 public:
  virtual ~ObjectWriter() = default;
  virtual void Append(const void* data, size_t len) = 0;
  // Publishes the bytes under `key`, atomically and durably: readers see
  // the whole object or none. Replaces an object already there.
  virtual void Commit(const std::string& key) = 0;
  // The object's size in storage once committed, when `appended` bytes were
  // appended: the same unless the driver transforms the bytes (encryption,
  // encrypted_driver.h). What a manifest records as a chunk's stored size,
  // so it equals what Stat reports.
  virtual uint64_t StoredBytes(uint64_t appended) const { return appended; }
};

// Sequential reader of one object.
class ObjectReader {
 public:
  virtual ~ObjectReader() = default;
  // Up to len bytes; 0 only at the end.
  virtual size_t Read(void* buf, size_t len) = 0;
  virtual uint64_t size() const = 0;
};

// An object written and not yet committed, and the key to commit it under
// (StorageDriver::CommitBatch).
struct PendingObject {
  std::unique_ptr<ObjectWriter> writer;
  std::string key;
};

struct ObjectInfo {
  std::string key;
  uint64_t size = 0;
  // When the object was last written, ms since the Unix epoch by the
  // storage's clock (a file's mtime, S3's LastModified); 0 if unknown.
  int64_t modified_ms = 0;
};

class StorageDriver {
 public:
  virtual ~StorageDriver() = default;
  // "posix:/backups" and the like, for messages.
  virtual std::string Describe() const = 0;
  // The name of an object by the XXH128 of its original bytes (32 hex
  // digits, lowercase): that digest itself, unless the driver encrypts;
  // then a keyed hash of it of the same form, so a name tells nothing of
  // the content to whoever lacks the key (encrypted_driver.h).
  virtual std::string ContentName(const std::string& xxh128_hex) const { return xxh128_hex; }
  virtual std::unique_ptr<ObjectWriter> Create() = 0;
  // A writer whose Commit will be given `key`, known before the first byte:
  // a driver may then store the object while it arrives (an S3 multipart
  // upload) instead of holding it until Commit names it.
  virtual std::unique_ptr<ObjectWriter> CreateAt(const std::string& key) {
    (void)key;
    return Create();
  }
  // The largest object a writer from Create() takes; a larger one must be
  // written through CreateAt. The posix driver has no such limit; the S3
  // driver's is one part.
  virtual uint64_t MaxUnnamedObjectSize() const { return std::numeric_limits<uint64_t>::max(); }
  // Whether ObjectWriter::Commit mostly waits on the storage (a local
  // fsync) rather than doing the work itself (an upload): the engine then
  // commits on a thread of its own while its workers go on (Committer).
  virtual bool CommitWaitsOnStorage() const { return false; }
  // Commits every writer of `batch` under its key, with ObjectWriter::Commit's
  // guarantees for each: whole or absent under its key, and durable once this
  // returns. The default commits them one by one. A driver whose commit
  // waits on the storage may share those waits among the batch (a group
  // commit: the posix driver makes a batch durable in two waits instead of
  // two per object). On a failure it throws the first one; each object of
  // the batch is then committed or absent, never torn, and the batch's
  // writers are left to the caller to destroy (discarding the uncommitted).
  // The engine calls it from its Committer (since engine API 1.1).
  virtual void CommitBatch(std::vector<PendingObject>& batch);
  // Throws BKP_E_NOT_FOUND when there is no such object.
  virtual std::unique_ptr<ObjectReader> Open(const std::string& key) = 0;
  // A hint that `key` will be opened and read soon, so its bytes can be
  // on their way while the object before it is decoded. Never fails; a
  // driver that reads ahead by itself keeps the default.
  virtual void Prefetch(const std::string& key) { (void)key; }
  // The object's size, or nullopt if it does not exist.
  virtual std::optional<uint64_t> Stat(const std::string& key) = 0;
  // Every object whose key starts with `prefix`, in key order.
  virtual std::vector<ObjectInfo> List(const std::string& prefix) = 0;
  // Removes objects; keys that do not exist are ignored.
  virtual void Remove(const std::vector<std::string>& keys) = 0;
  // Discards what writers that never committed left behind (a killed
  // backup's temporary files, an S3 upload never completed), when untouched
  // for at least `idle`: younger ones may belong to a writer still at work.
  // Returns how many were removed. Drivers without such leftovers keep the
  // default.
  virtual uint64_t RemoveAbandonedWrites(std::chrono::seconds idle) {
    (void)idle;
    return 0;
  }

  // Whole small objects (manifests, the format marker). GetSmall refuses
  // an object larger than `max_bytes` with BKP_E_CORRUPT before reading
  // it, so a planted giant cannot exhaust memory.
  void PutSmall(const std::string& key, const std::string& content);
  std::string GetSmall(const std::string& key, uint64_t max_bytes = kMaxSmallObjectBytes);
  static constexpr uint64_t kMaxSmallObjectBytes = 64ull << 20;
};

}  // namespace repo
