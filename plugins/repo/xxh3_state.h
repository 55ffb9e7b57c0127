// Xxh3State: an xxHash XXH3 streaming state owned by a scope, for the
// engine's incremental hashes (chunk names, tail checks, object checks).
// Throws std::bad_alloc when xxHash cannot allocate the state.
// Thread-safety: one state per thread, like the XXH3_state_t it wraps.
#pragma once

#include <new>

#include "repo/xxhash_dispatch.h"

namespace repo {

class Xxh3State {
 public:
  Xxh3State() : s_(XXH3_createState()) {
    if (s_ == nullptr) throw std::bad_alloc();
  }
  ~Xxh3State() { XXH3_freeState(s_); }
  Xxh3State(const Xxh3State&) = delete;
  Xxh3State& operator=(const Xxh3State&) = delete;
  XXH3_state_t* get() { return s_; }

 private:
  XXH3_state_t* s_;
};

}  // namespace repo
