// The continuous archive: the host's segments shipped as they close (and
// pieces of the active ones, so a quiet host's recovery point stays short),
// kept in the same repository as the backups and sharing its objects:
//
//   archive/<context>/<role>/<base>.json          a closed segment
//   archive/<context>/<role>/<base>.partial.json  what of the active segment
//                                                 is archived so far
//   archive/<context>/<role>/<base>.<timeline>[.partial].json
//                                                 the same on a timeline
//                                                 above 1 (timeline.h)
//
// Each record is written in one atomic put after its objects, like a
// manifest, so a crash leaves the previous record or the new one. A piece
// of an active segment reuses the chunks of the piece before it (after the
// same 4 KiB check a backup makes), so shipping a growing segment every
// second stores each byte once.
//
// Errors: throws bkp::Error.
// Thread-safety: Put runs on the host's archiver thread, possibly while a
// backup or a retention pass runs on another; it holds the repository's
// publish lock while it writes, so garbage collection never sees its
// objects without the record that references them.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "repo/archive_record.h"
#include "repo/chain.h"
#include "repo/chunk_store.h"
#include "repo/document_fields.h"
#include "repo/manifest.h"
#include "repo/repository.h"
#include "repo/timeline.h"

namespace repo {

// How far the archive reaches in one stream.
struct ArchivePosition {
  uint32_t timeline = 1;
  std::string context;
  uint32_t role = 0;
  std::optional<uint64_t> closed_base;  // newest closed segment archived
  std::string partial_name;             // the active segment a piece is archived of
  uint64_t partial_size = 0;
  uint64_t next = 0;  // one past the last index/token archived
  int64_t archived_ms = 0;
};

class Archive {
 public:
  explicit Archive(Repository& repository) : repo_(repository) {}

  // Archives `file` (its role, context, name, base, next, size; closed, or a
  // piece of the active segment), reading the live bytes through `read`.
  // Something already archived (the same closed segment, a piece no longer
  // than the one stored) is a no-op. `reuse` is where the bytes may already
  // be stored (the newest backup's state), checked before it is trusted.
  // Returns the stored bytes it added.
  // `observed_ms` and `first_ms` as in bkp_archive_args.
  // `timeline`: the host's (its history object must be published first).
  uint64_t Put(const FileEntry& file, int64_t observed_ms, int64_t first_ms, const ReadAt& read,
               ChunkSink& sink, const BackupState* reuse, uint32_t timeline = 1);

  // Where each stream of each timeline ends.
  std::vector<ArchivePosition> Positions();
  // Every archived segment of one stream on one timeline, ascending base:
  // the closed ones, then the active one's piece if it is newer.
  std::vector<ArchivedSegment> Segments(const std::string& context, uint32_t role,
                                        uint32_t timeline = 1);
  // The same along a timeline's history (its lineage, from timeline 1):
  // each ancestor's segments that end at or before the branch of its
  // child, then the child's, a segment of a later timeline replacing one of
  // the same base.
  std::vector<ArchivedSegment> SegmentsAlong(const std::string& context, uint32_t role,
                                             const std::vector<TimelineHistory>& lineage);
  // The streams that hold anything on one of `timelines`: (context, role).
  std::vector<std::pair<std::string, uint32_t>> Streams(const std::set<uint32_t>& timelines);
  // The timelines that hold any record.
  std::set<uint32_t> Timelines();

  // Removes the records of segments shipped before `before_ms` (they only
  // serve restores to points before the oldest backup kept). Returns how
  // many.
  uint64_t ExpireBefore(int64_t before_ms);

 private:
  Repository& repo_;
};

// The prefix every archive key starts with, and the stored objects that
// archive records reference (for garbage collection). Throws
// BKP_E_CORRUPT if a record cannot be read: collecting then could delete
// what it references.
inline constexpr const char* kArchivePrefix = "archive/";
std::vector<std::string> ArchiveObjects(StorageDriver& driver);
// Every archive record's key (superseded pieces too), for verify; and one
// record, read (BKP_E_CORRUPT naming the key when it does not decode).
std::vector<std::string> ArchiveRecordKeys(StorageDriver& driver);
ArchivedSegment LoadArchiveRecord(StorageDriver& driver, const std::string& key);

}  // namespace repo
