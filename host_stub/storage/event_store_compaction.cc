// Log compaction: deletes log segments past retention, unless a
// CompactionPin holds it off or a CompactionFloor (a consumer that has not
// taken them yet) keeps them.
#include <algorithm>

#include "storage/event_store_impl.h"

namespace fs = std::filesystem;

namespace hoststub {

// The lowest log index any floor still needs in `context` (pin_mu held):
// every entry while fewer floors are registered than the host will hold.
uint64_t EventStore::Impl::CompactionFloorOf(const std::string& context) const {
  if (floors.size() < options.compaction_floors) return 0;
  uint64_t keep_from = UINT64_MAX;
  for (const auto& [id, by_context] : floors) {
    auto it = by_context.find(context);
    keep_from = std::min(keep_from, it == by_context.end() ? 0 : it->second);
  }
  return keep_from;
}

Result<CompactionReport> EventStore::Impl::Compact() {
  CompactionReport report;
  std::lock_guard pin(pin_mu);
  if (pins > 0) {
    report.pinned = true;
    return report;
  }
  std::vector<Context*> all;
  {
    std::shared_lock lock(contexts_mu);
    for (auto& [name, ctx] : contexts) all.push_back(ctx.get());
  }
  for (Context* ctx : all) {
    const uint64_t commit = ctx->commit_index;
    if (commit <= options.log_retention_entries) continue;
    const uint64_t retention_point = commit - options.log_retention_entries;
    const uint64_t keep_from = std::min(retention_point, CompactionFloorOf(ctx->name));
    std::lock_guard lock(ctx->mu);
    report.kept_for_archive +=
        ctx->log->CountSegmentsBelow(retention_point) - ctx->log->CountSegmentsBelow(keep_from);
    HOSTSTUB_ASSIGN_OR_RETURN(const auto deleted, ctx->log->DeleteSegmentsBelow(keep_from));
    report.deleted.insert(report.deleted.end(), deleted.begin(), deleted.end());
  }
  return report;
}

Result<CompactionReport> EventStore::CompactLogs() { return impl_->Compact(); }

CompactionPin EventStore::PinCompaction() {
  std::lock_guard lock(impl_->pin_mu);
  ++impl_->pins;
  return CompactionPin(this, 0);
}

void EventStore::ReleaseHandle(CompactionPinTag*, uint64_t) {
  std::lock_guard lock(impl_->pin_mu);
  --impl_->pins;
}

bool EventStore::CompactionPinned() const {
  std::lock_guard lock(impl_->pin_mu);
  return impl_->pins > 0;
}

CompactionFloor EventStore::AddCompactionFloor() {
  std::lock_guard lock(impl_->pin_mu);
  const uint64_t id = impl_->next_floor_id++;
  impl_->floors[id];
  return CompactionFloor(this, id);
}

void EventStore::RaiseFloor(uint64_t id, std::string_view context, uint64_t index) {
  std::lock_guard lock(impl_->pin_mu);
  auto& by_context = impl_->floors[id];
  auto it = by_context.find(context);
  if (it == by_context.end()) {
    by_context.emplace(std::string(context), index);
  } else {
    it->second = std::max(it->second, index);
  }
}

void EventStore::ReleaseHandle(CompactionFloorTag*, uint64_t id) {
  std::lock_guard lock(impl_->pin_mu);
  impl_->floors.erase(id);
}

void CompactionFloor::Raise(std::string_view context, uint64_t index) {
  if (held()) store()->RaiseFloor(id(), context, index);
}

}  // namespace hoststub
