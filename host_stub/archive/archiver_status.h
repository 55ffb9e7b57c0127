// What a SegmentArchiver reports of itself (SegmentArchiver::Snapshot, GET
// /v1/archive, hostctl status): its state, how far behind the store the
// archive is, and where each stream's archive ends. Plain values, apart
// from the archiver so that clients of the admin API need only these.
//
// Thread-safety: plain values; ArchiverStateName is a pure function.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace hoststub {

enum class ArchiverState {
  kStarting,   // asking archive_status where the archive ends
  kArchiving,  // shipping (or idle and caught up)
  kRetrying,   // the last call failed; waiting to try again
  kStopped,
};
// "starting", "archiving", "retrying", "stopped".
const char* ArchiverStateName(ArchiverState state);

// One stream of the archive as the archiver knows it.
struct ArchiveStreamStatus {
  std::string context;
  uint32_t role = 0;  // BKP_ROLE_LOG, _EVENTS or _SNAPSHOTS
  // The newest closed segment in the archive: its base and file name.
  std::optional<uint64_t> closed_base;
  std::string closed_name;
  // The active segment a piece of is in the archive, and how much of it.
  std::string piece_name;
  uint64_t piece_size = 0;
  uint64_t next = 0;        // one past the last index/token archived; 0: nothing
  int64_t archived_ms = 0;  // host clock of the newest data archived; 0: none
  // What the archive lacks of the stream now: closed segments waiting, and
  // their bytes plus those of the active segment past its piece.
  uint64_t pending_segments = 0;
  uint64_t pending_bytes = 0;
  // Calls that stored something since the host started.
  uint64_t closed_archived = 0;
  uint64_t pieces_archived = 0;
};

// How far the archive is behind the store.
struct ArchiveLag {
  uint64_t segments = 0;  // closed segments not yet archived
  uint64_t bytes = 0;     // bytes not yet archived, closed segments and tails
  // How long the oldest data the archive lacks has waited: since its segment
  // closed, or, when archive_timeout is on, since an active segment first
  // held data not yet archived. 0 when nothing waits.
  double seconds = 0;
};

struct ArchiverStatus {
  std::string provider;
  uint32_t timeline = 1;  // the timeline archived on (the data directory's)
  ArchiverState state = ArchiverState::kStarting;
  std::chrono::milliseconds archive_timeout{0};
  ArchiveLag lag;
  // Since the host started.
  uint64_t segments_archived = 0;
  uint64_t pieces_archived = 0;
  uint64_t bytes_archived = 0;
  size_t queue_depth = 0;
  size_t queue_capacity = 0;
  uint64_t queue_overflows = 0;
  // The last failure (empty if none since the host started), and while
  // retrying, how many calls in a row failed and when the next try is.
  std::string last_error;
  int64_t last_error_ms = 0;
  uint64_t consecutive_failures = 0;
  int64_t next_retry_ms = 0;
  // Every stream of the store and of the archive, by context, then role.
  std::vector<ArchiveStreamStatus> streams;
};

}  // namespace hoststub
