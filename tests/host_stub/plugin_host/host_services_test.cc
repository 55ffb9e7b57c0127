// The host services table's settings and operation entries, called as a
// plugin calls them.
#include <doctest/doctest.h>

#include <cstddef>
#include <string>

#include "bkp/bkp_plugin.hpp"
#include "plugin_host/host_handles.h"
#include "plugin_host/host_services.h"

namespace {

const bkp_host_services& Services() { return *hoststub::HostServices(); }

}  // namespace

TEST_CASE("host services: the table declares its size and the host's ABI version") {
  CHECK(Services().struct_size == sizeof(bkp_host_services));
  CHECK(Services().abi_version == BKP_ABI_VERSION);
}

TEST_CASE("host services: restore_item_check answers as the restore sink would, writing nothing") {
  const bkp::Host host(&Services(), nullptr);
  REQUIRE(host.checks_restore_items());
  bkp_item item;
  BKP_INIT(&item);
  item.role = BKP_ROLE_EVENTS;
  item.context = "orders";
  item.name = "00000000000000000807.events";
  item.base = 807;
  CHECK_FALSE(host.restore_item_refusal(item).has_value());
  item.name = "00000000000000000001.events";
  auto why = host.restore_item_refusal(item);
  REQUIRE(why.has_value());
  CHECK_MESSAGE(why->find("should be named '00000000000000000807.events'") != std::string::npos,
                *why);
  item.name = "00000000000000000807.events";
  item.context = "../etc";
  why = host.restore_item_refusal(item);
  REQUIRE(why.has_value());
  CHECK_MESSAGE(why->find("invalid context name") != std::string::npos, *why);
  bkp_item control;
  BKP_INIT(&control);
  control.role = BKP_ROLE_CONTROL_DB;
  control.name = "control.db";
  CHECK_FALSE(host.restore_item_refusal(control).has_value());
  control.role = 9;
  CHECK(host.restore_item_refusal(control).has_value());
  // A host table from before the check: the plugin must not call it.
  bkp_host_services older = Services();
  older.struct_size = offsetof(bkp_host_services, restore_item_check);
  CHECK_FALSE(bkp::Host(&older, nullptr).checks_restore_items());
}

TEST_CASE("host services: settings by type, with a size query for strings") {
  toml::table table{{"path", "/backups/x"}, {"workers", 4}, {"verify", true}};
  bkp_settings settings{&table};
  size_t needed = 99;
  SUBCASE("string: size query, too small, exact") {
    CHECK(Services().setting_string(&settings, "path", nullptr, 0, &needed) ==
          BKP_E_INVALID_ARGUMENT);
    CHECK(needed == 11);
    char small[4] = "abc";
    CHECK(Services().setting_string(&settings, "path", small, sizeof small, &needed) ==
          BKP_E_INVALID_ARGUMENT);
    CHECK(std::string(small) == "abc");  // untouched
    char buf[11];
    REQUIRE(Services().setting_string(&settings, "path", buf, sizeof buf, &needed) == BKP_OK);
    CHECK(std::string(buf) == "/backups/x");
  }
  SUBCASE("absent and wrongly typed keys") {
    char buf[32];
    CHECK(Services().setting_string(&settings, "nope", buf, sizeof buf, &needed) ==
          BKP_E_NOT_FOUND);
    CHECK(needed == 0);
    needed = 99;
    CHECK(Services().setting_string(&settings, "workers", buf, sizeof buf, &needed) ==
          BKP_E_INVALID_ARGUMENT);
    CHECK(needed == 0);
    int64_t i = 0;
    CHECK(Services().setting_int(&settings, "path", &i) == BKP_E_INVALID_ARGUMENT);
    CHECK(Services().setting_int(&settings, "nope", &i) == BKP_E_NOT_FOUND);
  }
  SUBCASE("integers and booleans") {
    int64_t workers = 0;
    REQUIRE(Services().setting_int(&settings, "workers", &workers) == BKP_OK);
    CHECK(workers == 4);
    int32_t verify = 0;
    REQUIRE(Services().setting_bool(&settings, "verify", &verify) == BKP_OK);
    CHECK(verify == 1);
  }
}

TEST_CASE("host services: progress reaches the operation, cancellation is seen") {
  bkp_operation op;
  bkp_progress seen{};
  op.on_progress = [&](const bkp_progress& p) { seen = p; };
  bkp_progress report{};
  report.struct_size = sizeof report;
  report.phase = BKP_PHASE_LOG;
  report.bytes_done = 42;
  Services().op_progress(&op, &report);
  CHECK(seen.phase == BKP_PHASE_LOG);
  CHECK(seen.bytes_done == 42);
  CHECK(Services().op_cancelled(&op) == 0);
  op.cancel_requested = true;
  CHECK(Services().op_cancelled(&op) == 1);
  // A plugin's older, shorter progress struct is read only as far as it goes.
  bkp_progress shorter{};
  shorter.struct_size = offsetof(bkp_progress, bytes_total);
  shorter.phase = BKP_PHASE_EVENTS;
  shorter.bytes_done = 7;
  shorter.bytes_total = 12345;  // beyond its declared size: must be ignored
  Services().op_progress(&op, &shorter);
  CHECK(seen.bytes_done == 7);
  CHECK(seen.bytes_total == 0);
}
