// The C++ helper bkp/bkp_plugin.hpp: error buffers written by the ABI's
// rule, guard() turning every exception into a status, negotiate(), and the
// wrappers over a scripted host throwing bkp::Error with the host's message.
#include "bkp/bkp_plugin.hpp"

#include <cstddef>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "bkp/conformance/fake_host.h"

namespace {

// A buffer with a canary after its usable part, to catch overruns.
struct ErrBuf {
  char bytes[16];
  ErrBuf() { std::memset(bytes, '#', sizeof bytes); }
  std::string text() const { return std::string(bytes); }
  bool canary_intact(size_t from) const {
    for (size_t i = from; i < sizeof bytes; ++i) {
      if (bytes[i] != '#') return false;
    }
    return true;
  }
};

}  // namespace

TEST_CASE("hpp write_error: truncates to the buffer and always terminates") {
  ErrBuf e;
  bkp::write_error(e.bytes, 8, "0123456789");
  CHECK(e.text() == "0123456");
  CHECK(e.canary_intact(8));

  ErrBuf fits;
  bkp::write_error(fits.bytes, 8, std::string("short"));
  CHECK(fits.text() == "short");

  ErrBuf one;
  bkp::write_error(one.bytes, 1, "anything");
  CHECK(one.text().empty());
  CHECK(one.canary_intact(1));

  ErrBuf untouched;
  bkp::write_error(untouched.bytes, 0, "anything");
  CHECK(untouched.canary_intact(0));
  bkp::write_error(nullptr, 100, "anything");  // must not crash

  ErrBuf null_message;
  bkp::write_error(null_message.bytes, 8, static_cast<const char*>(nullptr));
  CHECK(null_message.text().empty());
}

TEST_CASE("hpp write_error: never cuts a UTF-8 sequence in half") {
  ErrBuf e;
  // "ab" then U+00E9 (2 bytes): a 4-byte buffer holds "ab" and the NUL only.
  bkp::write_error(e.bytes, 4, "ab\xC3\xA9");
  CHECK(e.text() == "ab");
  ErrBuf whole;
  bkp::write_error(whole.bytes, 5, "ab\xC3\xA9");
  CHECK(whole.text() == "ab\xC3\xA9");
}

TEST_CASE("hpp guard: returns the body's status and maps every exception") {
  char err[64] = "";
  CHECK(bkp::guard(err, sizeof err, [] {}) == BKP_OK);
  CHECK(bkp::guard(err, sizeof err, [] { return BKP_E_BUSY; }) == BKP_E_BUSY);

  CHECK(bkp::guard(err, sizeof err, [] { throw bkp::Error(BKP_E_AUTH, "key refused"); }) ==
        BKP_E_AUTH);
  CHECK(std::string(err) == "key refused");

  CHECK(bkp::guard(err, sizeof err, [] { throw bkp::Error(BKP_OK, "not ok"); }) == BKP_E_INTERNAL);
  CHECK(std::string(err) == "not ok");

  CHECK(bkp::guard(err, sizeof err, [] { throw std::bad_alloc(); }) == BKP_E_INTERNAL);
  CHECK(std::string(err) == "out of memory");

  CHECK(bkp::guard(err, sizeof err, [] { throw std::out_of_range("index 7"); }) == BKP_E_INTERNAL);
  CHECK(std::string(err) == "index 7");

  CHECK(bkp::guard(err, sizeof err, [] { throw 42; }) == BKP_E_INTERNAL);
  CHECK(std::string(err) == "unknown C++ exception");

  // No buffer: the status still comes back.
  CHECK(bkp::guard(nullptr, 0, [] { throw bkp::Error(BKP_E_IO, "x"); }) == BKP_E_IO);
  ErrBuf tiny;
  CHECK(bkp::guard(tiny.bytes, 4, [] { throw std::runtime_error("long message"); }) ==
        BKP_E_INTERNAL);
  CHECK(tiny.text() == "lon");
  CHECK(tiny.canary_intact(4));
}

TEST_CASE("hpp negotiate: same major passes and another major is refused with a reason") {
  char err[256] = "";
  bkp_entry_args args{sizeof(bkp_entry_args), BKP_MAKE_VERSION(1, 3), err, sizeof err};
  CHECK(bkp::negotiate(&args, BKP_MAKE_VERSION(1, 0)));
  CHECK(bkp::negotiate(&args, BKP_MAKE_VERSION(1, 9)));  // both then use 1.3
  CHECK(err[0] == '\0');

  args.host_abi_version = BKP_MAKE_VERSION(2, 1);
  CHECK_FALSE(bkp::negotiate(&args, BKP_MAKE_VERSION(1, 0)));
  CHECK(std::string(err).find("2.1") != std::string::npos);
  CHECK(std::string(err).find("1.0") != std::string::npos);

  CHECK_FALSE(bkp::negotiate(nullptr, BKP_ABI_VERSION));
}

TEST_CASE("hpp negotiate: reads only the struct_size bytes the host announced") {
  // A host whose struct ends before `error`: the fields past struct_size
  // hold garbage that must not be used as a buffer.
  char err[64] = "";
  bkp_entry_args args{8, BKP_MAKE_VERSION(2, 0), err, sizeof err};
  CHECK_FALSE(bkp::negotiate(&args, BKP_ABI_VERSION));
  CHECK(err[0] == '\0');
  args.host_abi_version = BKP_ABI_VERSION;
  CHECK(bkp::negotiate(&args, BKP_ABI_VERSION));

  args.struct_size = 4;  // not even a version
  CHECK_FALSE(bkp::negotiate(&args, BKP_ABI_VERSION));
  CHECK(err[0] == '\0');
}

TEST_CASE("hpp copy_versioned: an older peer's struct ends at its struct_size") {
  // A 1.0 peer's bkp_backup_args ends before `timeline` (1.2): whatever
  // lies past its struct_size is not its data and must read as zero.
  bkp_backup_args older{};
  older.struct_size = offsetof(bkp_backup_args, timeline);
  older.type = BKP_BACKUP_INCREMENTAL;
  older.timeline = 7;  // garbage beyond the older struct
  older.reserved0 = 9;
  const bkp_backup_args copy = bkp::copy_versioned(&older);
  CHECK(copy.struct_size == offsetof(bkp_backup_args, timeline));
  CHECK(copy.type == BKP_BACKUP_INCREMENTAL);
  CHECK(copy.timeline == 0);
  CHECK(copy.reserved0 == 0);

  // Only struct_size bytes are read: a heap block of exactly that size
  // (ASan reports any read past it).
  std::vector<unsigned char> exact(offsetof(bkp_backup_args, timeline));
  std::memcpy(exact.data(), &older, exact.size());
  const bkp_backup_args* short_struct = reinterpret_cast<const bkp_backup_args*>(exact.data());
  CHECK(bkp::copy_versioned(short_struct).type == BKP_BACKUP_INCREMENTAL);
}

TEST_CASE("hpp copy_versioned: a newer peer's extra fields are not read") {
  struct NewerItem {  // a later bkp_item with a field appended
    bkp_item item;
    uint64_t appended;
  };
  NewerItem newer{};
  newer.item.struct_size = sizeof(NewerItem);
  newer.item.role = BKP_ROLE_EVENTS;
  newer.item.name = "00000000000000000001.events";
  newer.item.next = 42;
  newer.appended = 0xdeadbeef;
  const bkp_item copy = bkp::copy_versioned(&newer.item);
  // The copy keeps the peer's size, so a reader can tell what it sent.
  CHECK(copy.struct_size == sizeof(NewerItem));
  CHECK(copy.role == BKP_ROLE_EVENTS);
  CHECK(copy.name == newer.item.name);  // shallow: points into the peer's memory
  CHECK(copy.next == 42);
}

TEST_CASE("hpp copy_versioned: struct_size 0 and NULL give an all-zero struct") {
  bkp_progress none{};
  none.struct_size = 0;
  none.bytes_done = 5;
  none.files_done = 6;
  const bkp_progress copy = bkp::copy_versioned(&none);
  CHECK(copy.struct_size == 0);
  CHECK(copy.bytes_done == 0);
  CHECK(copy.files_done == 0);

  const bkp_progress from_null = bkp::copy_versioned(static_cast<const bkp_progress*>(nullptr));
  CHECK(from_null.struct_size == 0);
  CHECK(from_null.bytes_done == 0);
}

TEST_CASE("hpp Settings: reads each type and reports absence and type errors") {
  fake::FakeHost host;
  host.string_settings["bucket"] = "backups";
  host.string_settings["long"] = std::string(1000, 'x');
  host.int_settings["threads"] = 8;
  host.bool_settings["compress"] = true;
  const bkp_open_args args = host.OpenArgs("p");
  const bkp::Settings settings(args);

  CHECK(settings.get_string("bucket") == std::optional<std::string>("backups"));
  CHECK(settings.get_string("long") == std::optional<std::string>(std::string(1000, 'x')));
  CHECK(settings.get_string("absent") == std::nullopt);
  CHECK(settings.get_int("threads") == std::optional<int64_t>(8));
  CHECK(settings.get_int("absent") == std::nullopt);
  CHECK(settings.get_bool("compress") == std::optional<bool>(true));
  CHECK(settings.get_bool("absent") == std::nullopt);

  try {
    (void)settings.get_int("bucket");
    FAIL("a string read as an integer did not throw");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_INVALID_ARGUMENT);
    CHECK(std::string(e.what()).find("bucket") != std::string::npos);
  }
  CHECK_THROWS_AS((void)settings.get_string("threads"), bkp::Error);
  CHECK_THROWS_AS((void)settings.get_bool("threads"), bkp::Error);
}

TEST_CASE("hpp Host and Operation: log lines and progress reach the host") {
  fake::FakeHost host;
  const bkp_open_args args = host.OpenArgs("p");
  const bkp::Host h(args);
  h.log(BKP_LOG_WARN, "plain 100%");
  h.logf(BKP_LOG_INFO, "%d files, %s", 3, "done");
  h.log(BKP_LOG_INFO, static_cast<const char*>(nullptr));
  REQUIRE(host.log_lines.size() == 2);
  CHECK(host.log_lines[0] == std::make_pair(int32_t{BKP_LOG_WARN}, std::string("plain 100%")));
  CHECK(host.log_lines[1] == std::make_pair(int32_t{BKP_LOG_INFO}, std::string("3 files, done")));

  const bkp::Operation op(host.services(), host.op());
  bkp_progress report{};
  report.phase = BKP_PHASE_LOG;
  report.bytes_done = 10;
  op.progress(report);
  REQUIRE(host.progress.size() == 1);
  CHECK(host.progress[0].struct_size == sizeof(bkp_progress));
  CHECK(host.progress[0].bytes_done == 10);
  CHECK_FALSE(op.cancelled());
  host.cancel_after_reads = 0;
  CHECK(op.cancelled());
  CHECK(bkp::guard(nullptr, 0, [&] { op.throw_if_cancelled("backup"); }) == BKP_E_CANCELLED);
}

TEST_CASE("hpp Source: lists in order and reads and carries the host's errors") {
  fake::FakeHost host;
  host.items = {{BKP_ROLE_CONTROL_DB, "", "control.db", "0123456789", {}},
                {BKP_ROLE_LOG, "ctx", "a.log", "abc", {}},
                {BKP_ROLE_LOG, "ctx", "b.log", "de", {}}};
  const bkp_backup_args args = host.BackupArgs();
  const bkp::Source source(host.services(), args);

  std::vector<std::string> names;
  CHECK_THROWS_AS(source.contexts([](const bkp_context_info&) {}), bkp::Error);
  source.list(BKP_ROLE_CONTROL_DB, [&](const bkp_item& item) { names.push_back(item.name); });
  source.contexts([&](const bkp_context_info& context) { names.push_back(context.name); });
  source.list(BKP_ROLE_LOG, [&](const bkp_item& item) { names.push_back(item.name); });
  CHECK(names == std::vector<std::string>{"control.db", "ctx", "a.log", "b.log"});

  char buf[4];
  CHECK(source.read(1, 0, buf, sizeof buf) == 4);
  CHECK(std::string(buf, 4) == "0123");
  CHECK(source.read(1, 8, buf, sizeof buf) == 2);
  CHECK(source.read(1, 10, buf, sizeof buf) == 0);

  try {
    (void)source.read(99, 0, buf, sizeof buf);
    FAIL("reading an unknown id did not throw");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_NOT_FOUND);
    CHECK(std::string(e.what()) == "source_read: fake host: no item with id 99");
  }
  try {
    source.list(BKP_ROLE_CONTROL_DB, [](const bkp_item&) {});
    FAIL("listing out of order did not throw");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_OUT_OF_ORDER);
    CHECK(std::string(e.what()).find("in that order") != std::string::npos);
  }
}

TEST_CASE("hpp Source: an exception in the listing callback stops it and is rethrown") {
  fake::FakeHost host;
  host.items = {{BKP_ROLE_LOG, "ctx", "a.log", "abc", {}},
                {BKP_ROLE_LOG, "ctx", "b.log", "de", {}}};
  const bkp::Source source(host.services(), host.source());
  int calls = 0;
  CHECK_THROWS_WITH_AS(source.list(BKP_ROLE_LOG,
                                   [&](const bkp_item&) {
                                     ++calls;
                                     throw std::out_of_range("stop here");
                                   }),
                       "stop here", std::out_of_range);
  CHECK(calls == 1);

  fake::FakeHost second;
  second.items = host.items;
  const bkp::Source source2(second.services(), second.source());
  const bkp_status st = bkp::guard(nullptr, 0, [&] {
    source2.list(BKP_ROLE_LOG, [](const bkp_item&) { throw bkp::Error(BKP_E_NO_SPACE, "full"); });
  });
  CHECK(st == BKP_E_NO_SPACE);
}

TEST_CASE("hpp Sink: begin write and end reach the host and failures throw") {
  fake::FakeHost host;
  const bkp::Sink sink(host.services(), host.sink());
  bkp_item item{};
  item.role = BKP_ROLE_CONTROL_DB;
  item.name = "control.db";
  item.size = 5;
  sink.begin(item);  // struct_size is filled in by the wrapper
  sink.write("hel", 3);
  sink.write("lo", 2);
  sink.end();
  REQUIRE(host.restored.size() == 1);
  CHECK(host.restored[0].data == "hello");
  CHECK(host.restored[0].ended);

  // The next item after the control DB: a log segment, named for its base.
  bkp_item log{};
  log.role = BKP_ROLE_LOG;
  log.context = "orders";
  log.name = "00000000000000000001.log";
  log.base = 1;
  log.size = 5;
  sink.begin(log);
  sink.write("x", 1);
  try {
    sink.end();
    FAIL("a short item did not throw");
  } catch (const bkp::Error& e) {
    CHECK(e.status() == BKP_E_INVALID_ARGUMENT);
    CHECK(std::string(e.what()).rfind("sink_end: ", 0) == 0);
  }
  host.sink_failure = {BKP_E_OUT_OF_ORDER, ""};
  try {
    sink.begin(log);
    FAIL("a refused begin did not throw");
  } catch (const bkp::Error& e) {
    // The host wrote no message: the wrapper still names the call and status.
    CHECK(std::string(e.what()) == "sink_begin: BKP_E_OUT_OF_ORDER");
  }
}

TEST_CASE("hpp status_name: names every 1.0 status") {
  CHECK(std::string(bkp::status_name(BKP_OK)) == "BKP_OK");
  CHECK(std::string(bkp::status_name(BKP_E_IO)) == "BKP_E_IO");
  CHECK(std::string(bkp::status_name(BKP_E_INTERNAL)) == "BKP_E_INTERNAL");
  CHECK(std::string(bkp::status_name(-1)) == "BKP_E_?");
  CHECK(std::string(bkp::status_name(16)) == "BKP_E_?");
}
