// GET /v1/archive in-process: AdminServer with RegisterArchiveRoutes over a
// real SegmentArchiver (the wal_archive plugin from the real plugin
// directory), read through AdminClient::GetArchive and raw Call; and the
// wire form of an archiver's status, both ways.
#include "api/archive_routes.h"
#include "api/archive_wire.h"

#include <doctest/doctest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/admin_client.h"
#include "api/admin_server.h"
#include "host_stub/storage_test_util.h"
#include "plugin_host/provider_registry.h"
#include "test_support.h"

using namespace hoststub;
using nlohmann::json;
using testing_support::TempDir;

TEST_CASE("archive routes: an archiver's status survives the wire form both ways") {
  ArchiverStatus s;
  s.provider = "pitr";
  s.state = ArchiverState::kRetrying;
  s.archive_timeout = std::chrono::milliseconds(1500);
  s.lag = {3, 12345, 2.5};
  s.segments_archived = 7;
  s.pieces_archived = 9;
  s.bytes_archived = 1 << 20;
  s.queue_depth = 1;
  s.queue_capacity = 1024;
  s.queue_overflows = 2;
  s.last_error = "provider 'pitr': archive of ... failed: disk full";
  s.last_error_ms = 1'700'000'000'000;
  s.consecutive_failures = 4;
  s.next_retry_ms = 1'700'000'002'000;
  ArchiveStreamStatus stream;
  stream.context = "orders";
  stream.role = BKP_ROLE_EVENTS;
  stream.closed_base = 42;
  stream.closed_name = "00000000000000000042.events";
  stream.piece_name = "00000000000000000080.events";
  stream.piece_size = 777;
  stream.next = 99;
  stream.archived_ms = 1'700'000'000'500;
  stream.pending_segments = 3;
  stream.pending_bytes = 12345;
  stream.closed_archived = 7;
  stream.pieces_archived = 9;
  ArchiveStreamStatus empty;  // nothing archived yet
  empty.context = "billing";
  empty.role = BKP_ROLE_LOG;
  s.streams = {stream, empty};

  const json wire = ArchiverStatusJson(s);
  CHECK(wire.at("state") == "retrying");
  CHECK(wire.at("archive_timeout_s") == 1.5);
  CHECK(wire.at("streams")[0].at("role") == "events");
  CHECK(wire.at("streams")[1].at("last_closed").is_null());
  CHECK(wire.at("streams")[1].at("piece").is_null());
  const ArchiverStatus back = ArchiverStatusFromJson(json::parse(wire.dump()));
  CHECK(ArchiverStatusJson(back) == wire);
  CHECK(back.streams[0].closed_base == 42u);
  CHECK_FALSE(back.streams[1].closed_base.has_value());

  // No failure yet: last_error is null, not an empty message.
  s.last_error.clear();
  CHECK(ArchiverStatusJson(s).at("last_error").is_null());
}

TEST_CASE("archive routes: GET /v1/archive lists each archiver, and none when none archives") {
  TempDir dir;
  auto store = storage_test::OpenOrFail(storage_test::Options(dir / "data"));
  storage_test::AppendNumbered(*store, "orders", 20);
  const std::string toml = "plugin_dir = '" + std::string(BKP_PLUGIN_DIR) +
                           "'\n[[providers]]\nname = 'pitr'\nplugin = 'wal_archive'\n"
                           "archive = true\n[providers.settings]\npath = '" +
                           (dir / "repo").string() + "'\n";
  auto config = ParseHostConfig(toml, "host.toml");
  REQUIRE_MESSAGE(config.ok(), config.status().ToString());
  auto registry =
      ProviderRegistry::Load(*config, [](std::string_view, int32_t, std::string_view) {});
  REQUIRE_MESSAGE(registry.ok(), registry.status().ToString());

  std::vector<std::unique_ptr<SegmentArchiver>> archivers;
  AdminServer server(*store, ServerOptions{"127.0.0.1", 0});
  RegisterArchiveRoutes(server, archivers);
  REQUIRE(server.Start().ok());
  AdminClient client("127.0.0.1", server.port());
  auto none = client.GetArchive();
  REQUIRE_MESSAGE(none.ok(), none.error().message);
  CHECK(none->empty());
  server.Stop();

  auto started = SegmentArchiver::Start(*store, registry->providers().front(), ArchiverOptions{},
                                        [](int32_t, std::string_view) {});
  REQUIRE_MESSAGE(started.ok(), started.status().ToString());
  archivers.push_back(std::move(*started));
  AdminServer serving(*store, ServerOptions{"127.0.0.1", 0});
  RegisterArchiveRoutes(serving, archivers);
  REQUIRE(serving.Start().ok());
  AdminClient reader("127.0.0.1", serving.port());
  auto listed = reader.GetArchive();
  REQUIRE_MESSAGE(listed.ok(), listed.error().message);
  REQUIRE(listed->size() == 1);
  CHECK((*listed)[0].provider == "pitr");
  CHECK((*listed)[0].archive_timeout == std::chrono::seconds(60));
  CHECK((*listed)[0].streams.size() == 3);  // orders: log, events, snapshots

  auto bad = reader.Call("GET", "/v1/archive?provider=pitr");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.error().http_status == 400);
  CHECK(bad.error().message.find("unknown query parameter 'provider'") != std::string::npos);
  serving.Stop();
  archivers.clear();
}
