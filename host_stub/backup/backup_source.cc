// The host's backup source: ordered listing and zero-extra-copy reads.
#include "backup/backup_source.h"

#include <algorithm>
#include <system_error>

#include <fmt/format.h>

#include "plugin_host/abi_role.h"
#include "plugin_host/abi_status.h"
#include "storage/control_db.h"

namespace hoststub {

namespace fs = std::filesystem;

namespace {

// What both listings answer on an archive call's source.
constexpr const char* kArchiveSourceRefuses =
    "the source of an archive call offers source_read of its one segment only";

// How far ahead of a reader the kernel is asked to read (see Read).
constexpr uint64_t kReadAheadBytes = 8ull << 20;

}  // namespace

Result<std::unique_ptr<BackupSource>> BackupSource::Create(EventStore& store,
                                                           fs::path scratch_dir) {
  std::error_code ec;
  fs::remove_all(scratch_dir, ec);
  fs::create_directories(scratch_dir, ec);
  if (ec) {
    return Status::IOError(fmt::format("cannot create backup scratch directory '{}': {}",
                                       scratch_dir.string(), ec.message()));
  }
  std::unique_ptr<BackupSource> source(new BackupSource(store, std::move(scratch_dir)));
  source->pin_ = store.PinCompaction();
  return source;
}

std::unique_ptr<BackupSource> BackupSource::ForArchive(EventStore& store, uint32_t role,
                                                       const std::string& context,
                                                       const SegmentInfo& segment, uint32_t flags) {
  std::unique_ptr<BackupSource> source(new BackupSource(store, fs::path()));
  source->archive_call_ = true;
  source->Add(role, context, segment.path.filename().string(), segment.path, segment.size,
              segment.base, segment.next, flags);
  return source;
}

BackupSource::~BackupSource() {
  if (scratch_.empty()) return;
  std::error_code ec;
  fs::remove_all(scratch_, ec);
}

BackupSource::Entry& BackupSource::Add(uint32_t role, const std::string& context,
                                       const std::string& name, const fs::path& path, uint64_t size,
                                       uint64_t base, uint64_t next, uint32_t flags) {
  std::unique_lock lock(entries_mu_);
  Entry& e = entries_.emplace_back();
  e.context = context;
  e.name = name;
  e.path = path.string();
  e.item.struct_size = sizeof(bkp_item);
  e.item.role = role;
  e.item.context = role == BKP_ROLE_CONTROL_DB ? nullptr : e.context.c_str();
  e.item.name = e.name.c_str();
  e.item.size = size;
  e.item.base = base;
  e.item.id = entries_.size() - 1;
  e.item.path = e.path.c_str();
  e.item.flags = flags;
  e.item.next = next;
  bytes_listed_ += size;
  return e;
}

Status BackupSource::ListControlDb() {
  const fs::path snapshot = scratch_ / "control.db";
  HOSTSTUB_RETURN_IF_ERROR(store_.SnapshotControlDb(snapshot));
  // The contexts are the snapshot's: a context created after it has no row
  // in the backup's control DB, so its segments must not be in it either.
  HOSTSTUB_ASSIGN_OR_RETURN(auto db, ControlDb::Open(snapshot, /*read_only=*/true));
  HOSTSTUB_ASSIGN_OR_RETURN(const auto states, db->LoadReplicationStates());
  contexts_.assign(states.begin(), states.end());  // a std::map: name order
  std::error_code ec;
  const uint64_t size = fs::file_size(snapshot, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot stat control DB snapshot '{}': {}", snapshot.string(), ec.message()));
  }
  Add(BKP_ROLE_CONTROL_DB, "", "control.db", snapshot, size, 0, 0, BKP_ITEM_CLOSED);
  return Status::OK();
}

Status BackupSource::ListSegments(uint32_t role) {
  if (role == BKP_ROLE_LOG) {
    // After the control DB's snapshot, as docs/design.md §2 orders, and the
    // events at the same instant as the log, not after it.
    for (const auto& [context, state] : contexts_) {
      auto streams = store_.SegmentsAtOnce(context);
      // A context whose row was committed just before the snapshot but
      // whose streams did not exist yet has nothing to back up: recovery
      // creates its empty streams on restore.
      if (!streams.ok() && streams.status().code() == Status::Code::kNotFound) continue;
      if (!streams.ok()) return streams.status();
      cut_[context] = std::move(*streams);
    }
  }
  // List has refused any other role: this one is a stream.
  const size_t index = hoststub::StreamRoleIndex(
      hoststub::FromBkpRole(role).value_or(hoststub::StreamRole::kSnapshots));
  for (const auto& [context, streams] : cut_) {
    for (const auto& seg : streams[index]) {
      Add(role, context, seg.path.filename().string(), seg.path, seg.size, seg.base, seg.next,
          seg.closed ? BKP_ITEM_CLOSED : 0);
    }
  }
  return Status::OK();
}

bkp_status BackupSource::List(uint32_t role, bkp_item_fn fn, void* user, std::string* error) {
  std::lock_guard lock(list_mu_);
  if (archive_call_) {
    *error = fmt::format("source_list: {}", kArchiveSourceRefuses);
    return BKP_E_UNSUPPORTED;
  }
  if (fn == nullptr) {
    *error = "source_list: fn is NULL";
    return BKP_E_INVALID_ARGUMENT;
  }
  if (role < BKP_ROLE_CONTROL_DB || role > BKP_ROLE_SNAPSHOTS) {
    *error = fmt::format("source_list: unknown role {}", role);
    return BKP_E_INVALID_ARGUMENT;
  }
  if (role != next_role_) {
    *error = fmt::format(
        "source_list: {} listed out of order; a backup lists the control DB, then log, then "
        "events, then snapshots, each once{}",
        BkpRoleName(role),
        next_role_ <= BKP_ROLE_SNAPSHOTS ? fmt::format(" (next is {})", BkpRoleName(next_role_))
                                         : std::string(" (all were listed)"));
    return BKP_E_OUT_OF_ORDER;
  }
  size_t first;
  {
    std::shared_lock entries(entries_mu_);
    first = entries_.size();
  }
  Status st = role == BKP_ROLE_CONTROL_DB ? ListControlDb() : ListSegments(role);
  if (!st.ok()) {
    *error = st.message();
    return ToBkpStatus(st);
  }
  ++next_role_;
  size_t last;
  {
    std::shared_lock entries(entries_mu_);
    last = entries_.size();
  }
  for (size_t i = first; i < last; ++i) {
    const bkp_item* item;
    {
      std::shared_lock entries(entries_mu_);
      item = &entries_[i].item;
    }
    bkp_status rc = fn(user, item);
    if (rc != BKP_OK) {
      *error = fmt::format("source_list: the provider stopped the listing of {} ({})",
                           BkpRoleName(role), BkpStatusName(rc));
      return rc;
    }
  }
  return BKP_OK;
}

bkp_status BackupSource::Contexts(bkp_context_fn fn, void* user, std::string* error) {
  std::lock_guard lock(list_mu_);
  if (archive_call_) {
    *error = fmt::format("source_contexts: {}", kArchiveSourceRefuses);
    return BKP_E_UNSUPPORTED;
  }
  if (fn == nullptr) {
    *error = "source_contexts: fn is NULL";
    return BKP_E_INVALID_ARGUMENT;
  }
  if (next_role_ == BKP_ROLE_CONTROL_DB) {
    *error = "source_contexts: list the control DB first; the contexts are its snapshot's";
    return BKP_E_OUT_OF_ORDER;
  }
  for (const auto& [name, state] : contexts_) {
    bkp_context_info info{};
    info.struct_size = sizeof info;
    info.name = name.c_str();
    info.term = state.term;
    info.commit_index = state.commit_index;
    bkp_status rc = fn(user, &info);
    if (rc != BKP_OK) {
      *error =
          fmt::format("source_contexts: the provider stopped the listing ({})", BkpStatusName(rc));
      return rc;
    }
  }
  return BKP_OK;
}

bkp_status BackupSource::Read(uint64_t id, uint64_t offset, void* buf, size_t len, size_t* got,
                              std::string* error) {
  if (got == nullptr || (buf == nullptr && len > 0)) {
    *error = "source_read: buf or got is NULL";
    return BKP_E_INVALID_ARGUMENT;
  }
  *got = 0;
  Entry* entry = nullptr;
  {
    std::shared_lock entries(entries_mu_);
    if (id >= entries_.size()) {
      *error = fmt::format("source_read: no item with id {}", id);
      return BKP_E_NOT_FOUND;
    }
    entry = &entries_[id];
  }
  const uint64_t size = entry->item.size;
  if (offset >= size || len == 0) return BKP_OK;
  const size_t want = static_cast<size_t>(std::min<uint64_t>(len, size - offset));
  std::shared_ptr<File> file;
  {
    std::lock_guard lock(entry->mu);
    if (!entry->file) {
      auto opened = File::Open(entry->path, File::Mode::kRead);
      if (!opened.ok()) {
        *error = opened.status().message();
        return ToBkpStatus(opened.status());
      }
      entry->file = std::move(*opened);
    }
    file = entry->file;
    // Plugins read a file front to back a MiB or so at a time, compressing
    // in between: asking for the next stretch now keeps a cold read from
    // stalling them (the kernel's own readahead window is far smaller).
    const uint64_t end = offset + want;
    if (end + kReadAheadBytes / 2 > entry->read_ahead_to && end < size) {
      const uint64_t from = std::max(entry->read_ahead_to, end);
      const uint64_t to = std::min(size, end + kReadAheadBytes);
      if (to > from) file->ReadAhead(from, to - from);
      entry->read_ahead_to = to;
    }
    // Sequential readers are the common case: once the end is being read,
    // no one needs the descriptor any more (this read keeps its own ref).
    if (offset + want == size) entry->file.reset();
  }
  auto n = file->PRead(buf, want, offset);
  if (!n.ok()) {
    *error = n.status().message();
    return ToBkpStatus(n.status());
  }
  if (*n != want) {
    *error = fmt::format("'{}' ended at byte {} but {} bytes were listed", entry->path, offset + *n,
                         size);
    return BKP_E_IO;
  }
  *got = *n;
  return BKP_OK;
}

uint64_t BackupSource::files_listed() const {
  std::shared_lock entries(entries_mu_);
  return entries_.size();
}

const bkp_item& BackupSource::item(uint64_t id) const {
  std::shared_lock entries(entries_mu_);
  return entries_.at(id).item;
}

uint64_t BackupSource::bytes_listed() const {
  std::shared_lock entries(entries_mu_);
  return bytes_listed_;
}

}  // namespace hoststub
