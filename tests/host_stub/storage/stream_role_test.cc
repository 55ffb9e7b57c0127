// StreamRole, the host's one name for a context's streams, and its
// mappings: to the format's names (directories, file extensions, the admin
// API's "stream"), to the plugin ABI's BKP_ROLE_*, and to a log entry's
// stream field. The expected values are written out here from the format
// documents and bkp_plugin.h, not derived from the mappings under test.
#include <doctest/doctest.h>

#include <cstdint>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "host_stub/storage_test_util.h"
#include "plugin_host/abi_role.h"
#include "storage/record.h"
#include "storage/segment.h"
#include "storage/stream_role.h"
#include "test_support.h"

using namespace hoststub;
using namespace storage_test;
using testing_support::TempDir;

namespace {

struct Expected {
  StreamRole role;
  uint32_t header_kind;  // docs/storage-format.md: the segment header's kind
  std::string_view name;
  uint32_t bkp_role;
};

constexpr Expected kExpected[] = {
    {StreamRole::kLog, 1, "log", 2},
    {StreamRole::kEvents, 2, "events", 3},
    {StreamRole::kSnapshots, 3, "snapshots", 4},
};

}  // namespace

TEST_CASE("every stream role maps to its name and its ABI role and back") {
  REQUIRE(kStreamRoles.size() == std::size(kExpected));
  std::set<std::string_view> names;
  std::set<uint32_t> bkp_roles;
  for (size_t i = 0; i < kStreamRoles.size(); ++i) {
    const Expected& e = kExpected[i];
    CAPTURE(e.name);
    CHECK(kStreamRoles[i] == e.role);
    CHECK(static_cast<uint32_t>(e.role) == e.header_kind);
    CHECK(StreamRoleIndex(e.role) == i);

    CHECK(StreamRoleName(e.role) == e.name);
    REQUIRE(ParseStreamRole(e.name).has_value());
    CHECK(*ParseStreamRole(e.name) == e.role);

    CHECK(ToBkpRole(e.role) == e.bkp_role);
    REQUIRE(FromBkpRole(e.bkp_role).has_value());
    CHECK(*FromBkpRole(e.bkp_role) == e.role);

    // The segment file's extension is the name.
    CHECK(SegmentFileName(e.role, 42) == "00000000000000000042." + std::string(e.name));
    names.insert(StreamRoleName(e.role));
    bkp_roles.insert(ToBkpRole(e.role));
  }
  CHECK(names.size() == 3);
  CHECK(bkp_roles.size() == 3);
  // bkp_plugin.h's values, spelled by their macros too.
  CHECK(ToBkpRole(StreamRole::kLog) == BKP_ROLE_LOG);
  CHECK(ToBkpRole(StreamRole::kEvents) == BKP_ROLE_EVENTS);
  CHECK(ToBkpRole(StreamRole::kSnapshots) == BKP_ROLE_SNAPSHOTS);
}

TEST_CASE("the stream role mappings refuse what names no stream") {
  for (std::string_view text : {"", "Log", "EVENTS", "event", "logs", "snapshot", " log",
                                "control DB", "control.db", "unknown"}) {
    CAPTURE(text);
    CHECK_FALSE(ParseStreamRole(text).has_value());
  }
  // The control DB is an ABI role but not a stream; the rest are unknown.
  for (uint32_t role : {0u, uint32_t{BKP_ROLE_CONTROL_DB}, 5u, 0xFFFFFFFFu}) {
    CAPTURE(role);
    CHECK_FALSE(FromBkpRole(role).has_value());
  }
  CHECK(StreamRoleName(static_cast<StreamRole>(0)) == "unknown");
  CHECK(StreamRoleName(static_cast<StreamRole>(4)) == "unknown");
}

TEST_CASE("a log entry's stream field maps to the two event streams only") {
  // docs/storage-format.md: 0 is the events, 1 the snapshots.
  CHECK(LogEntryStreamCode(StreamRole::kEvents) == 0);
  CHECK(LogEntryStreamCode(StreamRole::kSnapshots) == 1);
  for (StreamRole role : {StreamRole::kEvents, StreamRole::kSnapshots}) {
    REQUIRE(LogEntryStream(LogEntryStreamCode(role)).has_value());
    CHECK(*LogEntryStream(LogEntryStreamCode(role)) == role);
  }
  for (uint32_t code : {2u, 3u, 0xFFFFFFFFu}) {
    CAPTURE(code);
    CHECK_FALSE(LogEntryStream(code).has_value());
  }
  std::string payload;
  EncodeLogEntry(7, 1, 0, StreamRole::kSnapshots, std::vector<std::string>{"x"}, &payload);
  auto entry = DecodeLogEntry(payload);
  REQUIRE(entry.ok());
  CHECK(entry->stream == 1);
}

TEST_CASE("events are neither appended to nor read from the log stream") {
  TempDir dir;
  auto store = OpenOrFail(Options(dir.path()));
  auto appended = store->Append("orders", std::vector<std::string>{"a"}, StreamRole::kLog);
  REQUIRE_FALSE(appended.ok());
  CHECK(appended.status().code() == Status::Code::kInvalidArgument);
  CHECK(appended.status().message().find("not the log") != std::string::npos);
  // Refused before anything was written: no context, no log entry.
  CHECK(store->Contexts().empty());

  REQUIRE(store->Append("orders", std::vector<std::string>{"a"}).ok());
  auto read = store->Read("orders", 0, 10, StreamRole::kLog);
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().code() == Status::Code::kInvalidArgument);
  auto state = store->State("orders");
  REQUIRE(state.ok());
  CHECK(state->last_log_index == 1);
}
