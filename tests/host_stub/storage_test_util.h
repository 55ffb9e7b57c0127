// Shared set-up for the storage engine tests: options on a scratch directory
// and paths of a context's segment files.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "storage/event_store.h"

namespace storage_test {

inline hoststub::StorageOptions Options(
    const std::filesystem::path& dir, hoststub::FsyncPolicy fsync = hoststub::FsyncPolicy::kNever) {
  hoststub::StorageOptions o;
  o.data_dir = dir;
  o.fsync = fsync;
  o.compaction_interval = std::chrono::milliseconds(0);  // tests compact explicitly
  return o;
}

inline std::unique_ptr<hoststub::EventStore> OpenOrFail(const hoststub::StorageOptions& o) {
  auto store = hoststub::EventStore::Open(o);
  REQUIRE_MESSAGE(store.ok(), store.status().ToString());
  return std::move(*store);
}

inline std::filesystem::path StreamDir(const std::filesystem::path& data, const std::string& ctx,
                                       const std::string& stream) {
  return data / "contexts" / ctx / stream;
}

// Appends `count` single-event batches "<prefix>-<i>" with varying lengths.
inline std::vector<std::string> AppendNumbered(hoststub::EventStore& store, const std::string& ctx,
                                               int count, const std::string& prefix = "ev") {
  std::vector<std::string> written;
  for (int i = 0; i < count; ++i) {
    std::string payload =
        prefix + "-" + std::to_string(i) + std::string(static_cast<size_t>(i % 7) * 5, 'x');
    auto r = store.Append(ctx, std::vector<std::string>{payload});
    REQUIRE_MESSAGE(r.ok(), r.status().ToString());
    written.push_back(payload);
  }
  return written;
}

inline std::vector<std::string> ReadAllPayloads(hoststub::EventStore& store,
                                                const std::string& ctx) {
  auto events = store.Read(ctx, 0, 1'000'000);
  REQUIRE_MESSAGE(events.ok(), events.status().ToString());
  std::vector<std::string> out;
  for (size_t i = 0; i < events->size(); ++i) {
    CHECK((*events)[i].token == i);
    out.push_back((*events)[i].payload);
  }
  return out;
}

}  // namespace storage_test
