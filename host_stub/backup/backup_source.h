// The backup source a provider reads a hot backup from: the host's
// implementation of the ABI's bkp_source (plugin_host/host_handles.h). It
// enforces the backup order of docs/design.md §2: the control DB is
// listed first (which takes its consistent snapshot), then log segments,
// then event segments, then snapshot segments. Each listing fixes the size
// of every active segment at that moment, so the backup holds whole records
// only (a torn tail would be truncated by recovery anyway). Log compaction
// is pinned for the source's whole life, so nothing listed can disappear.
//
// The continuous archiver uses a narrower kind (ForArchive): one segment,
// readable through source_read only, for one bkp_provider.archive call.
//
// Ownership: created and destroyed by the host around one backup operation
// (or one archive call); the EventStore must outlive it. Items handed to the
// plugin (and their strings) live as long as the source.
// Thread-safety: Read may be called from several threads at once and
// concurrently with List; List calls are serialised.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <vector>

#include "bkp/bkp_plugin.h"
#include "plugin_host/host_handles.h"
#include "storage/control_db.h"
#include "storage/event_store.h"
#include "util/file.h"
#include "util/status.h"

namespace hoststub {

class BackupSource final : public bkp_source {
 public:
  // Pins compaction and prepares `scratch_dir` (created; removed with
  // everything in it when the source is destroyed) for the control-DB
  // snapshot.
  static Result<std::unique_ptr<BackupSource>> Create(EventStore& store,
                                                      std::filesystem::path scratch_dir);
  // The source of one archive call: item id 0 is `segment` of `context`
  // (role BKP_ROLE_LOG, _EVENTS or _SNAPSHOTS, `flags` BKP_ITEM_CLOSED or
  // BKP_ITEM_PARTIAL), readable up to segment.size; source_list and
  // source_contexts refuse with BKP_E_UNSUPPORTED. No scratch directory and
  // no compaction pin: the archiver's CompactionFloor keeps the segment.
  static std::unique_ptr<BackupSource> ForArchive(EventStore& store, uint32_t role,
                                                  const std::string& context,
                                                  const SegmentInfo& segment, uint32_t flags);
  ~BackupSource() override;

  // See bkp_host_services.source_list. `error` receives the reason on failure.
  bkp_status List(uint32_t role, bkp_item_fn fn, void* user, std::string* error) override;
  // See bkp_host_services.source_contexts.
  bkp_status Contexts(bkp_context_fn fn, void* user, std::string* error) override;
  // See bkp_host_services.source_read.
  bkp_status Read(uint64_t id, uint64_t offset, void* buf, size_t len, size_t* got,
                  std::string* error) override;

  // Totals over everything listed so far.
  uint64_t files_listed() const;
  uint64_t bytes_listed() const;
  // The item with `id` (listed before); valid as long as the source.
  const bkp_item& item(uint64_t id) const;

 private:
  struct Entry {
    std::string context;
    std::string name;
    std::string path;
    bkp_item item{};
    std::mutex mu;               // guards file and read_ahead_to
    std::shared_ptr<File> file;  // opened on first read
    uint64_t read_ahead_to = 0;  // the kernel was asked to read this far
  };

  BackupSource(EventStore& store, std::filesystem::path scratch_dir)
      : store_(store), scratch_(std::move(scratch_dir)) {}
  Entry& Add(uint32_t role, const std::string& context, const std::string& name,
             const std::filesystem::path& path, uint64_t size, uint64_t base, uint64_t next,
             uint32_t flags);
  Status ListControlDb();
  Status ListSegments(uint32_t role);

  EventStore& store_;
  std::filesystem::path scratch_;
  CompactionPin pin_;
  // As in the control-DB snapshot, in name order.
  std::vector<std::pair<std::string, ReplicationState>> contexts_;
  // Every context's streams, taken at once when the log is listed, so the
  // events listed are exactly those of the log entries listed (see
  // EventStore::SegmentsAtOnce). Contexts with no streams yet are absent.
  std::map<std::string, std::array<std::vector<SegmentInfo>, 3>> cut_;
  uint32_t next_role_ = BKP_ROLE_CONTROL_DB;
  bool archive_call_ = false;             // made by ForArchive: source_read only
  std::mutex list_mu_;                    // serialises List
  mutable std::shared_mutex entries_mu_;  // guards the deque's structure
  std::deque<Entry> entries_;             // id = index; a deque keeps addresses stable
  uint64_t bytes_listed_ = 0;             // guarded by entries_mu_
};

}  // namespace hoststub
