// StoreHandle: a move-only claim on something an EventStore keeps for its
// holder (a compaction pin, a compaction floor, a segment-close
// subscription), given back when the handle dies. One template for all of
// them, so the move and release rules are written once: a moved-from or
// default-constructed handle holds nothing and releases nothing; assigning
// over a held handle releases what it held first.
//
// Tag names what is held; the store releases it with its private
// ReleaseHandle(Tag*, id) overload. A handle must not outlive its store.
// Store is a parameter only so that the release call is looked up where the
// handle is used, after EventStore is complete; it is always EventStore.
//
// Thread-safety: a handle is used by one thread at a time; releasing takes
// the store's own lock, so handles of one store may die on any threads.
#pragma once

#include <cstdint>
#include <utility>

namespace hoststub {

class EventStore;

template <typename Tag, typename Store = EventStore>
class StoreHandle {
 public:
  StoreHandle() = default;
  StoreHandle(StoreHandle&& other) noexcept
      : store_(std::exchange(other.store_, nullptr)), id_(other.id_) {}
  StoreHandle& operator=(StoreHandle&& other) noexcept {
    if (this != &other) {
      Release();
      store_ = std::exchange(other.store_, nullptr);
      id_ = other.id_;
    }
    return *this;
  }
  StoreHandle(const StoreHandle&) = delete;
  StoreHandle& operator=(const StoreHandle&) = delete;
  ~StoreHandle() { Release(); }

  bool held() const { return store_ != nullptr; }

 protected:
  friend Store;
  StoreHandle(Store* store, uint64_t id) : store_(store), id_(id) {}
  Store* store() const { return store_; }
  uint64_t id() const { return id_; }

 private:
  void Release() {
    if (store_ != nullptr) store_->ReleaseHandle(static_cast<Tag*>(nullptr), id_);
  }

  Store* store_ = nullptr;
  uint64_t id_ = 0;
};

}  // namespace hoststub
