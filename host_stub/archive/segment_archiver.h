// SegmentArchiver: continuous archiving through one provider. It ships every
// log, event and snapshot segment of the store, as it closes, through the
// provider's archive callback (BKP_CAP_ARCHIVE), and, with an
// archive_timeout, pieces of the active segments, so a quiet host's
// recovery point stays bounded. One thread per archiver; the write path
// only pushes a notice into its bounded ArchiveQueue.
//
// Order and completeness. Each stream (context, role) is archived in
// ascending base, each closed segment once. At start (and after a crash)
// the archiver asks the provider's archive_status where each stream's
// archive ends and ships what follows, from the store's own segment list:
// no gap, no duplicate. A failed call is logged and retried with a growing
// back-off (up to retry_max); the segment is never skipped, and nothing
// after it in the archiver's order is shipped before it. An archive that
// reaches beyond the store (the data directory is older than the archive:
// restored to an earlier point, or another host's) is refused the same way,
// loudly, rather than mixed with a second history.
//
// Timelines. The archiver archives on the data directory's timeline (the
// control DB's; 1 unless a restore from an archive started a new one): it
// resumes from that timeline's positions only, and hands the provider the
// timeline and its history with every segment. A restored directory on a
// new timeline therefore archives beside the history it came from.
//
// A context restored into the running host (hostctl restore --context) is
// another history than the one the archive holds for it. The restore holds
// every archiver (Hold: the pass under way stops before its next segment,
// none starts) around the swap, which moves the directory to a new timeline
// when an archive knows the context; Resume then makes the archiver start
// over on it, as a host restored from an archive does: a fresh compaction
// floor, positions of the new timeline (none), every segment on disk shipped
// again. Nothing of the restored context is ever shipped on the old timeline.
//
// Keeping what is not archived. The archiver holds a CompactionFloor and
// raises it per context only as closed log segments reach the archive, so
// log compaction never deletes a segment it has yet to ship. (Event and
// snapshot segments are never compacted.) A stalled archive therefore holds
// the log on disk: its status reports the lag so operators see it.
//
// Durability. A piece of an active segment is shipped only after the store
// synced what was listed (unless fsync = "never"), so the archive never
// holds bytes a crash could take from the host.
//
// Thread-safety: Status and Stop may be called from any thread. The
// provider's archive and archive_status run only on the archiver's thread,
// one call at a time, possibly beside a backup on the same instance (the
// ABI allows it for BKP_CAP_ARCHIVE).
// Ownership: the EventStore is borrowed and must outlive the archiver; the
// provider is shared. The destructor stops the archiver.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "archive/archive_queue.h"
#include "archive/archiver_status.h"
#include "bkp/bkp_plugin.h"
#include "plugin_host/host_handles.h"
#include "plugin_host/provider_registry.h"
#include "storage/control_db.h"
#include "storage/event_store.h"
#include "util/status.h"

namespace hoststub {

struct ArchiverOptions {
  // Ship the tail of an active segment once it has held data not yet
  // archived for this long; 0: closed segments only. From the provider's
  // archive_timeout. Detected within a tenth of it (20 ms to 1 s).
  std::chrono::milliseconds archive_timeout{60'000};
  // Notices the queue holds before further ones are dropped (and found by
  // a rescan instead).
  size_t queue_capacity = 1024;
  // Back-off after a failed call: doubles from retry_min up to retry_max.
  std::chrono::milliseconds retry_min{250};
  std::chrono::milliseconds retry_max{30'000};
};

class SegmentArchiver {
 public:
  // Receives the archiver's log lines (BKP_LOG_* level), each starting with
  // "archive via provider 'NAME': ". Called on the archiver's thread.
  using LogFn = std::function<void(int32_t level, std::string_view line)>;

  // Subscribes to segment closes and takes a compaction floor at once (so
  // nothing closes or is compacted unseen from now on), then starts the
  // thread. Unsupported when the provider does not announce BKP_CAP_ARCHIVE.
  // A null `log` logs to stderr.
  static Result<std::unique_ptr<SegmentArchiver>> Start(EventStore& store,
                                                        std::shared_ptr<LoadedProvider> provider,
                                                        ArchiverOptions options, LogFn log);
  // Stops it.
  ~SegmentArchiver();
  SegmentArchiver(const SegmentArchiver&) = delete;
  SegmentArchiver& operator=(const SegmentArchiver&) = delete;

  // Cancels a call in flight (the provider sees op_cancelled) and joins the
  // thread. What was not shipped is shipped at the next start. Idempotent.
  void Stop();

  // What Hold found: the newest timeline the archive holds (or the
  // archiver archives on), and whether the archive holds anything of the
  // context on the directory's timeline (true while it has not read its
  // positions yet: it cannot tell).
  struct HoldInfo {
    uint32_t newest_timeline = 1;
    bool knows_context = false;
  };
  // Stops shipping until Resume: waits for the call in flight, then holds
  // the archiver between segments. Call Hold and Resume on one thread, in
  // pairs.
  HoldInfo Hold(const std::string& context);
  // Lets it ship again; with `timeline_changed`, it first starts over on
  // the directory's timeline as it reads it now.
  void Resume(bool timeline_changed);

  // A snapshot; the lag is measured against the store's segments now.
  ArchiverStatus Snapshot() const;
  const std::string& provider_name() const { return provider_->name(); }

 private:
  struct StreamKey {
    std::string context;
    uint32_t role = 0;  // BKP_ROLE_*
    auto operator<=>(const StreamKey&) const = default;
  };
  // How far the archive reaches in one stream, and what waits for it.
  struct Cursor {
    std::optional<uint64_t> closed_base;  // newest closed segment archived
    std::string piece_name;               // the active segment a piece of is archived
    uint64_t piece_size = 0;
    uint64_t next = 0;  // one past the last index/token archived; 0: nothing
    int64_t archived_ms = 0;
    // Closed segments known to wait: base -> when the host saw it close
    // (or the archiver found it), ms since the epoch. Also their observed_ms.
    std::map<uint64_t, int64_t> waiting;
    // When the stream was first seen holding data the archive lacks (0:
    // none, or archive_timeout is off).
    int64_t unarchived_since_ms = 0;
    bool gap_reported = false;
    uint64_t closed_archived = 0;
    uint64_t pieces_archived = 0;
  };

  SegmentArchiver(EventStore& store, std::shared_ptr<LoadedProvider> provider,
                  ArchiverOptions options, LogFn log, TimelineInfo timeline);
  void Run();
  Status LoadPositions();
  // Resume(true)'s start over, on the archiver's thread.
  Status SwitchTimeline();
  // A pass stopped because Hold asked: not a failure (stopped_for_hold_
  // tells Run so).
  Status Held();
  Result<std::vector<SegmentInfo>> List(const StreamKey& key) const;
  Status ShipClosedEverywhere();
  Status ShipClosed(const StreamKey& key, const std::vector<SegmentInfo>& segments);
  void WatchTails();
  Status ShipDueTails();
  Status Ship(const StreamKey& key, const SegmentInfo& segment, uint32_t flags,
              int64_t observed_ms);
  int64_t FirstAppendMs(const StreamKey& key, const SegmentInfo& segment) const;
  // Records a failed pass, logs it and waits out the back-off; false when
  // the archiver is stopping.
  bool Retry(const Status& failure);
  void Recovered();
  void Log(int32_t level, const std::string& message) const;
  std::chrono::milliseconds Tick() const;

  EventStore& store_;
  const std::shared_ptr<LoadedProvider> provider_;
  const ArchiverOptions options_;
  const LogFn log_;
  TimelineInfo timeline_;  // written under mu_ by the archiver's thread only
  ArchiveQueue queue_;
  CompactionFloor floor_;
  SegmentSubscription subscription_;  // after queue_: it pushes into it
  bkp_operation op_;                  // cancel_requested once stopping

  mutable std::mutex mu_;  // guards what follows
  std::map<StreamKey, Cursor> cursors_;
  bool positions_loaded_ = false;
  uint32_t newest_timeline_ = 1;  // the highest any archive_status answer named
  bool stopped_ = false;
  uint64_t segments_archived_ = 0;
  uint64_t pieces_archived_ = 0;
  uint64_t bytes_archived_ = 0;
  std::string last_error_;
  int64_t last_error_ms_ = 0;
  uint64_t consecutive_failures_ = 0;
  int64_t next_retry_ms_ = 0;

  // Held by the archiver's thread for each pass, and by Hold until Resume.
  std::mutex pass_mu_;
  std::unique_lock<std::mutex> held_;  // Hold's, released by Resume
  std::atomic<bool> hold_{false};
  std::atomic<bool> switch_timeline_{false};
  bool stopped_for_hold_ = false;  // the archiver's thread only

  std::mutex stop_mu_;  // serialises Stop
  std::thread thread_;
};

}  // namespace hoststub
