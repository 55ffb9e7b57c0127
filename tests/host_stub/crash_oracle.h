// The crash tests' oracle: what clients were told (per context, each
// acknowledged token's bytes and each acknowledged log index), checked
// against a recovered store. Shared by the fault-injection crash test and
// the SIGKILL test of real processes. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "storage/event_store.h"

namespace crash_oracle {

// What clients were told: per context, token -> bytes and the log indexes.
class Oracle {
 public:
  void Ack(const std::string& ctx, const hoststub::AppendResult& r,
           const std::vector<std::string>& events) {
    std::lock_guard lock(mu_);
    auto& tokens = tokens_[ctx];
    for (size_t i = 0; i < events.size(); ++i) {
      if (!tokens.emplace(r.first_token + i, events[i]).second) {
        reused_.push_back(
            fmt::format("context '{}': token {} acknowledged twice", ctx, r.first_token + i));
      }
    }
    if (!indexes_[ctx].insert(r.log_index).second) {
      reused_.push_back(
          fmt::format("context '{}': log index {} acknowledged twice", ctx, r.log_index));
    }
  }

  // Every acknowledged event of `ctx` is in `store`, byte for byte; the
  // tokens run from 0 without a gap. Returns the events checked.
  uint64_t Verify(hoststub::EventStore& store, const std::string& ctx,
                  std::vector<std::string>* lost) {
    std::lock_guard lock(mu_);
    const auto& tokens = tokens_[ctx];
    if (tokens.empty()) return 0;
    auto events = store.Read(ctx, 0, SIZE_MAX);
    if (!events.ok()) {
      lost->push_back(events.status().ToString());
      return 0;
    }
    for (size_t i = 0; i < events->size(); ++i) {
      if ((*events)[i].token != i) {
        lost->push_back(
            fmt::format("context '{}': token {} at position {}", ctx, (*events)[i].token, i));
        return 0;
      }
    }
    for (const auto& [token, bytes] : tokens) {
      if (token >= events->size() || (*events)[token].payload != bytes) {
        lost->push_back(fmt::format("context '{}': acknowledged token {} {}", ctx, token,
                                    token >= events->size() ? "missing" : "has other bytes"));
      }
    }
    return tokens.size();
  }

  const std::vector<std::string>& reused() const { return reused_; }

 private:
  std::mutex mu_;
  std::map<std::string, std::map<uint64_t, std::string>> tokens_;
  std::map<std::string, std::set<uint64_t>> indexes_;
  std::vector<std::string> reused_;
};

}  // namespace crash_oracle
