// Recovery, append with segment roll, truncation and compaction of one stream.
#include "storage/segmented_stream.h"

#include "storage/record.h"

#include <algorithm>
#include <cassert>
#include <system_error>

#include <fmt/format.h>

namespace fs = std::filesystem;

namespace hoststub {

Status StreamFile::PWriteAll(const void* data, size_t size, uint64_t offset) {
  if (failed_.load(std::memory_order_acquire)) {
    std::lock_guard lock(mu_);
    return sync_failure_;
  }
  return file_->PWriteAll(data, size, offset);
}

Status StreamFile::Sync() {
  std::lock_guard lock(mu_);
  if (!sync_failure_.ok()) return sync_failure_;
  Status st = file_->Sync();
  if (!st.ok()) {
    sync_failure_ = Status::IOError(fmt::format(
        "{} (an earlier fsync failed: the data written before it may be lost, so this file "
        "takes no more writes until the host restarts)",
        st.ToString()));
    failed_.store(true, std::memory_order_release);
    if (fsync_failed_ != nullptr) fsync_failed_->store(true);
  }
  return st;
}

Status SegmentedStream::SyncNew(EnvFile& file) {
  Status st = file.Sync();
  if (!st.ok() && options_.fsync_failed != nullptr) options_.fsync_failed->store(true);
  return st;
}

Status SegmentedStream::SyncDir() {
  Status st = options_.env->SyncDir(options_.dir);
  if (!st.ok() && options_.fsync_failed != nullptr) options_.fsync_failed->store(true);
  return st;
}

fs::path SegmentedStream::PathOf(uint64_t base) const {
  return options_.dir / SegmentFileName(options_.kind, base);
}

Result<std::unique_ptr<SegmentedStream>> SegmentedStream::Open(const Options& options,
                                                               std::vector<std::string>* notes) {
  HOSTSTUB_RETURN_IF_ERROR(options.env->CreateDirs(options.dir));
  std::unique_ptr<SegmentedStream> stream(new SegmentedStream(options));
  HOSTSTUB_RETURN_IF_ERROR(stream->Recover(notes));
  return stream;
}

Status SegmentedStream::Recover(std::vector<std::string>* notes) {
  std::vector<uint64_t> bases;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    if (auto base = ParseSegmentFileName(options_.kind, entry.path().filename().string())) {
      bases.push_back(*base);
    }
  }
  if (ec) {
    return Status::IOError(
        fmt::format("cannot list directory '{}': {}", options_.dir.string(), ec.message()));
  }
  std::sort(bases.begin(), bases.end());
  if (bases.empty()) {
    HOSTSTUB_RETURN_IF_ERROR(CreateSegment(FirstSequence(options_.kind)));
    next_seq_ = FirstSequence(options_.kind);
    return Status::OK();
  }

  // Closed segments first: if one is damaged we refuse before touching
  // anything, so the operator can still copy the directory away intact.
  const size_t closed = bases.size() - 1;
  for (size_t i = 0; i < closed; ++i) {
    const fs::path path = PathOf(bases[i]);
    const bool verify = !options_.closed_headers_only &&
                        (options_.verify_closed == 0 || i + options_.verify_closed >= closed);
    HOSTSTUB_ASSIGN_OR_RETURN(auto scan, ScanSegment(path, options_.kind, bases[i], {},
                                                     verify ? UINT64_MAX : kSegmentHeaderSize));
    if (!scan.clean()) {
      return Status::Corruption(fmt::format(
          "closed segment '{}' is damaged at offset {}: {}. Closed segments are never "
          "rewritten, so this is media or external damage: restore the context from a backup",
          path.string(), scan.error_offset, scan.error));
    }
    if (verify && scan.records == 0) {
      return Status::Corruption(fmt::format("closed segment '{}' holds no records", path.string()));
    }
    if (verify && bases[i + 1] != scan.last_seq + 1) {
      return Status::Corruption(
          fmt::format("gap between segments: '{}' ends at {} but the next segment starts at {}",
                      path.string(), scan.last_seq, bases[i + 1]));
    }
    segments_.push_back({.path = path, .base = bases[i], .size = scan.file_size, .closed = true});
  }

  const uint64_t base = bases.back();
  const fs::path path = PathOf(base);
  HOSTSTUB_ASSIGN_OR_RETURN(auto scan, ScanSegment(path, options_.kind, base));
  uint64_t size = scan.valid_end;
  if (!scan.header_ok) {
    // A crash between creating a segment and writing its header leaves a
    // short file with no data in it; anything longer is real damage.
    if (scan.file_size > kSegmentHeaderSize) {
      return Status::Corruption(
          fmt::format("active segment '{}' has a damaged header: {}", path.string(), scan.error));
    }
    notes->push_back(fmt::format("rewrote the torn header of empty segment '{}'", path.string()));
    segments_.push_back({.path = path, .base = base, .size = 0, .closed = false});
    HOSTSTUB_ASSIGN_OR_RETURN(auto file, options_.env->Open(path, File::Mode::kReadWrite));
    std::string header = EncodeSegmentHeader(options_.kind, base);
    HOSTSTUB_RETURN_IF_ERROR(file->Truncate(0));
    HOSTSTUB_RETURN_IF_ERROR(file->PWriteAll(header.data(), header.size(), 0));
    HOSTSTUB_RETURN_IF_ERROR(SyncNew(*file));
    size = kSegmentHeaderSize;
  } else if (!scan.clean()) {
    notes->push_back(fmt::format("truncated '{}' from {} to {} bytes at its last whole record ({})",
                                 path.string(), scan.file_size, scan.valid_end, scan.error));
    segments_.push_back({.path = path, .base = base, .size = 0, .closed = false});
  } else {
    segments_.push_back({.path = path, .base = base, .size = 0, .closed = false});
  }
  next_seq_ = scan.records > 0 ? scan.last_seq + 1 : base;
  return OpenActive(size);
}

Status SegmentedStream::OpenActive(uint64_t size) {
  StreamSegment& seg = segments_.back();
  HOSTSTUB_ASSIGN_OR_RETURN(auto file, options_.env->Open(seg.path, File::Mode::kReadWrite));
  HOSTSTUB_ASSIGN_OR_RETURN(auto current, file->Size());
  if (current != size) {
    HOSTSTUB_RETURN_IF_ERROR(file->Truncate(size));
    HOSTSTUB_RETURN_IF_ERROR(SyncNew(*file));
  }
  seg.size = size;
  seg.closed = false;
  active_ = std::make_shared<StreamFile>(std::move(file), options_.fsync_failed);
  return Status::OK();
}

Status SegmentedStream::CreateSegment(uint64_t base) {
  const fs::path path = PathOf(base);
  HOSTSTUB_ASSIGN_OR_RETURN(auto file, options_.env->Open(path, File::Mode::kCreateOrOpen));
  std::string header = EncodeSegmentHeader(options_.kind, base);
  HOSTSTUB_RETURN_IF_ERROR(file->Truncate(0));
  HOSTSTUB_RETURN_IF_ERROR(file->PWriteAll(header.data(), header.size(), 0));
  if (options_.durable) {
    HOSTSTUB_RETURN_IF_ERROR(SyncNew(*file));
    HOSTSTUB_RETURN_IF_ERROR(SyncDir());
  }
  segments_.push_back({.path = path, .base = base, .size = kSegmentHeaderSize, .closed = false});
  active_ = std::make_shared<StreamFile>(std::move(file), options_.fsync_failed);
  return Status::OK();
}

Status SegmentedStream::Append(std::string_view records, std::span<const uint32_t> sizes,
                               uint64_t first_seq, std::vector<StreamSegment>* closed) {
  if (first_seq != next_seq_) {
    return Status::InvalidArgument(
        fmt::format("append at sequence {} but the stream in '{}' is at {}", first_seq,
                    options_.dir.string(), next_seq_));
  }
  size_t chunk_begin = 0;
  size_t pos = 0;
  uint64_t seq = first_seq;
  auto flush = [&]() -> Status {
    if (pos == chunk_begin) return Status::OK();
    StreamSegment& seg = segments_.back();
    HOSTSTUB_RETURN_IF_ERROR(
        active_->PWriteAll(records.data() + chunk_begin, pos - chunk_begin, seg.size));
    seg.size += pos - chunk_begin;
    chunk_begin = pos;
    return Status::OK();
  };
  for (uint32_t size : sizes) {
    const uint64_t used = segments_.back().size + (pos - chunk_begin);
    if (used > kSegmentHeaderSize && used + size > options_.segment_bytes) {
      HOSTSTUB_RETURN_IF_ERROR(flush());
      // The closed segment must be durable before the new one can hold data
      // that depends on it: recovery trusts closed segments to be whole.
      if (options_.durable) HOSTSTUB_RETURN_IF_ERROR(active_->Sync());
      segments_.back().closed = true;
      if (closed != nullptr) {
        closed->push_back(segments_.back());
        closed->back().next = seq;
      }
      HOSTSTUB_RETURN_IF_ERROR(CreateSegment(seq));
    }
    pos += size;
    ++seq;
  }
  assert(pos == records.size());
  HOSTSTUB_RETURN_IF_ERROR(flush());
  next_seq_ = seq;
  unsynced_ = true;
  return Status::OK();
}

std::shared_ptr<StreamFile> SegmentedStream::TakeUnsynced() {
  if (!unsynced_) return nullptr;
  unsynced_ = false;
  return active_;
}

Status SegmentedStream::Sync() { return active_->Sync(); }

std::vector<StreamSegment> SegmentedStream::Segments() const {
  std::vector<StreamSegment> out = segments_;
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].next = i + 1 < out.size() ? out[i + 1].base : next_seq_;
  }
  return out;
}

Result<std::optional<std::string>> SegmentedStream::ReadLastRecord() const {
  for (auto it = segments_.rbegin(); it != segments_.rend(); ++it) {
    if (it->size <= kSegmentHeaderSize) continue;
    std::string last;
    HOSTSTUB_ASSIGN_OR_RETURN(auto scan, ScanSegment(
                                             it->path, options_.kind, it->base,
                                             [&](uint64_t, std::string_view payload) {
                                               last.assign(payload);
                                               return true;
                                             },
                                             it->size));
    if (scan.records > 0) return std::optional<std::string>(std::move(last));
  }
  return std::optional<std::string>();
}

Status SegmentedStream::TruncateFrom(const std::function<bool(std::string_view)>& beyond) {
  // The cut is searched from the newest segment back: a segment wholly
  // beyond, or one with no records at all (a roll just before a crash), sends
  // the search to the one before it.
  std::optional<size_t> cut_segment;
  uint64_t cut_offset = 0;
  uint64_t cut_seq = 0;
  for (size_t i = segments_.size(); i-- > 0;) {
    const StreamSegment& seg = segments_[i];
    std::optional<uint64_t> offset;
    uint64_t seq = 0;
    HOSTSTUB_ASSIGN_OR_RETURN(auto scan, ScanSegment(
                                             seg.path, options_.kind, seg.base,
                                             [&](uint64_t at, std::string_view payload) {
                                               if (!beyond(payload)) return true;
                                               offset = at;
                                               seq = PayloadSequence(payload);
                                               return false;
                                             },
                                             seg.size));
    if (offset) {
      cut_segment = i;
      cut_offset = *offset;
      cut_seq = seq;
      if (*offset > kSegmentHeaderSize) break;
    } else if (scan.records > 0) {
      break;
    }
  }
  if (!cut_segment) return Status::OK();
  bool removed = false;
  while (segments_.size() > *cut_segment + 1) {
    HOSTSTUB_RETURN_IF_ERROR(options_.env->Remove(segments_.back().path));
    segments_.pop_back();
    removed = true;
  }
  if (removed && options_.durable) HOSTSTUB_RETURN_IF_ERROR(SyncDir());
  HOSTSTUB_RETURN_IF_ERROR(OpenActive(cut_offset));
  next_seq_ = cut_seq;
  return Status::OK();
}

Result<std::vector<fs::path>> SegmentedStream::DeleteSegmentsBelow(uint64_t seq) {
  std::vector<fs::path> deleted;
  while (segments_.size() > 1 && segments_[1].base <= seq) {
    HOSTSTUB_RETURN_IF_ERROR(options_.env->Remove(segments_.front().path));
    deleted.push_back(segments_.front().path);
    segments_.erase(segments_.begin());
  }
  if (!deleted.empty() && options_.durable) HOSTSTUB_RETURN_IF_ERROR(SyncDir());
  return deleted;
}

size_t SegmentedStream::CountSegmentsBelow(uint64_t seq) const {
  size_t n = 0;
  while (n + 1 < segments_.size() && segments_[n + 1].base <= seq) ++n;
  return n;
}

}  // namespace hoststub
