// The ABI's layout contract, checked three ways: C++ asserts every 1.0
// field's offset and size at compile time (abi_v1_0_layout.def); the C
// translation units do the same in C99 and export what they saw, which must
// match C++ exactly; and the live header must keep every field and constant
// of the frozen 1.0 copy where 1.0 had it.
#include <cstddef>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "abi_layout.h"
#include "bkp/bkp_plugin.h"

#if !defined(__LP64__)
#error "the expected layout in abi_v1_0_layout.def is for LP64 (x86_64, aarch64 Linux)"
#endif

// ---- compile time: the C++ view of the live header ----------------------

#define BKP_LAYOUT_STRUCT(type, size)                                                         \
  static_assert(BKP_ABI_VERSION_MINOR == 0 ? sizeof(type) == (size) : sizeof(type) >= (size), \
                "sizeof(" #type ") differs from ABI 1.0");
#define BKP_LAYOUT_FIELD(type, field, offset, size)                            \
  static_assert(offsetof(type, field) == (offset), #type "." #field " moved"); \
  static_assert(sizeof(static_cast<type*>(nullptr)->field) == (size),          \
                #type "." #field " changed size");
#include "abi_v1_0_layout.def"
#undef BKP_LAYOUT_STRUCT
#undef BKP_LAYOUT_FIELD

namespace {

struct Row {
  std::string type;
  std::string field;  // empty for the struct's own row
  size_t offset;
  size_t size;
};

// The published numbers, as written in the .def file.
const std::vector<Row>& Expected() {
  static const std::vector<Row> rows = {
#define BKP_LAYOUT_STRUCT(type, size) {#type, "", 0, size},
#define BKP_LAYOUT_FIELD(type, field, offset, size) {#type, #field, offset, size},
#include "abi_v1_0_layout.def"
#undef BKP_LAYOUT_STRUCT
#undef BKP_LAYOUT_FIELD
  };
  return rows;
}

// What this C++ compiler makes of the live header.
const std::vector<Row>& CxxView() {
  static const std::vector<Row> rows = {
#define BKP_LAYOUT_STRUCT(type, size) {#type, "", 0, sizeof(type)},
#define BKP_LAYOUT_FIELD(type, field, offset, size) \
  {#type, #field, offsetof(type, field), sizeof(static_cast<type*>(nullptr)->field)},
#include "abi_v1_0_layout.def"
#undef BKP_LAYOUT_STRUCT
#undef BKP_LAYOUT_FIELD
  };
  return rows;
}

std::vector<Row> Rows(const bkp_header_view& view) {
  std::vector<Row> rows;
  for (size_t i = 0; i < view.layout_count; ++i) {
    const bkp_layout_row& r = view.layout[i];
    rows.push_back({r.type, r.field != nullptr ? r.field : "", r.offset, r.size});
  }
  return rows;
}

std::set<std::string> StructNames(const std::vector<Row>& rows) {
  std::set<std::string> names;
  for (const Row& row : rows) names.insert(row.type);
  return names;
}

std::string ReadFile(const char* path) {
  std::ifstream in(path);
  REQUIRE_MESSAGE(in.good(), "cannot read " << path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Every `typedef struct bkp_x {` in a header: the structs that cross.
std::set<std::string> HeaderStructs(const std::string& header) {
  static const std::regex kStruct(R"(typedef struct (bkp_\w+) \{)");
  std::set<std::string> names;
  for (std::sregex_iterator it(header.begin(), header.end(), kStruct), end; it != end; ++it) {
    names.insert((*it)[1]);
  }
  return names;
}

// Every object-like numeric #define: what abi_v1_0_constants.def must list.
std::set<std::string> HeaderConstants(const std::string& header) {
  static const std::regex kDefine(R"(#define (BKP_\w+) +[(0-9])");
  // Not values of the ABI: the version of the header itself, which a later
  // minor changes by design.
  static const std::set<std::string> kNotConstants = {"BKP_ABI_VERSION_MINOR"};
  std::set<std::string> names;
  for (std::sregex_iterator it(header.begin(), header.end(), kDefine), end; it != end; ++it) {
    if (kNotConstants.count((*it)[1]) == 0) names.insert((*it)[1]);
  }
  return names;
}

std::string Name(const Row& row) {
  return row.field.empty() ? row.type : row.type + "." + row.field;
}

}  // namespace

TEST_CASE("abi layout: every 1.0 field has its published LP64 offset and size in C++") {
  const auto& expected = Expected();
  const auto& actual = CxxView();
  REQUIRE(actual.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    INFO(Name(expected[i]));
    CHECK(actual[i].offset == expected[i].offset);
    if (expected[i].field.empty() && BKP_ABI_VERSION_MINOR > 0) {
      CHECK(actual[i].size >= expected[i].size);
    } else {
      CHECK(actual[i].size == expected[i].size);
    }
  }
}

// The list must name every byte: a field left out of the .def, or padding a
// compiler inserted, leaves a gap that fails here.
TEST_CASE("abi layout: the 1.0 fields tile each struct with no gap and no padding") {
  const auto& rows = Expected();
  size_t structs = 0;
  for (size_t i = 0; i < rows.size();) {
    REQUIRE(rows[i].field.empty());
    const Row& head = rows[i++];
    ++structs;
    size_t end = 0;
    for (; i < rows.size() && !rows[i].field.empty(); ++i) {
      INFO(Name(rows[i]));
      CHECK(rows[i].type == head.type);
      CHECK(rows[i].offset == end);
      end = rows[i].offset + rows[i].size;
    }
    INFO(head.type);
    CHECK(end == head.size);
  }
  CHECK(structs == StructNames(rows).size());
}

// The .def lists are written by hand; these keep them complete.
TEST_CASE("abi layout: the layout list covers every struct of the frozen and the live header") {
  const std::set<std::string> listed = StructNames(Expected());
  CHECK(HeaderStructs(ReadFile(BKP_FROZEN_HEADER)) == listed);
  std::set<std::string> live = HeaderStructs(ReadFile(BKP_LIVE_HEADER));
  if (BKP_ABI_VERSION_MINOR == 0) {
    CHECK(live == listed);
  } else {
    for (const std::string& name : listed) CHECK(live.count(name) == 1);
  }
}

TEST_CASE("abi layout: the constants list covers every numeric define of the frozen header") {
  const bkp_header_view frozen = bkp_layout_frozen_c();
  std::set<std::string> listed;
  for (size_t i = 0; i < frozen.constant_count; ++i) listed.insert(frozen.constants[i].name);
  CHECK(HeaderConstants(ReadFile(BKP_FROZEN_HEADER)) == listed);
}

TEST_CASE("abi layout: every struct that carries a size starts with uint32_t struct_size") {
  // bkp_setting_spec is the one 1.0 struct without it: it crosses as an
  // array, not on its own.
  const auto& rows = Expected();
  for (size_t i = 0; i + 1 < rows.size(); ++i) {
    if (!rows[i].field.empty() || rows[i].type == "bkp_setting_spec") continue;
    INFO(rows[i].type);
    CHECK(rows[i + 1].field == "struct_size");
    CHECK(rows[i + 1].offset == 0);
    CHECK(rows[i + 1].size == 4);
  }
}

TEST_CASE("abi layout: a C99 compiler lays out the live header exactly as C++ does") {
  const bkp_header_view c = bkp_layout_live_c();
  const std::vector<Row> c_rows = Rows(c);
  const auto& cxx_rows = CxxView();
  REQUIRE(c_rows.size() == cxx_rows.size());
  for (size_t i = 0; i < c_rows.size(); ++i) {
    INFO(Name(cxx_rows[i]));
    CHECK(c_rows[i].type == cxx_rows[i].type);
    CHECK(c_rows[i].field == cxx_rows[i].field);
    CHECK(c_rows[i].offset == cxx_rows[i].offset);
    CHECK(c_rows[i].size == cxx_rows[i].size);
  }
  CHECK(c.abi_version == BKP_ABI_VERSION);
  CHECK(std::strcmp(c.entry_name, BKP_PLUGIN_ENTRY_NAME) == 0);
}

TEST_CASE("abi layout: the live header keeps every field of the frozen 1.0 header in place") {
  const bkp_header_view frozen = bkp_layout_frozen_c();
  const bkp_header_view live = bkp_layout_live_c();
  CHECK(frozen.abi_version == BKP_MAKE_VERSION(1, 0));
  CHECK(BKP_VERSION_MAJOR(live.abi_version) == BKP_VERSION_MAJOR(frozen.abi_version));
  CHECK(BKP_VERSION_MINOR(live.abi_version) >= BKP_VERSION_MINOR(frozen.abi_version));
  CHECK(std::strcmp(live.entry_name, frozen.entry_name) == 0);

  const std::vector<Row> old_rows = Rows(frozen);
  const std::vector<Row> new_rows = Rows(live);
  REQUIRE(old_rows.size() == new_rows.size());
  for (size_t i = 0; i < old_rows.size(); ++i) {
    INFO(Name(old_rows[i]));
    CHECK(new_rows[i].type == old_rows[i].type);
    CHECK(new_rows[i].field == old_rows[i].field);
    CHECK(new_rows[i].offset == old_rows[i].offset);
    if (old_rows[i].field.empty()) {
      CHECK(new_rows[i].size >= old_rows[i].size);  // a struct may grow at its end
    } else {
      CHECK(new_rows[i].size == old_rows[i].size);
    }
  }
}

TEST_CASE("abi layout: the live header keeps every 1.0 constant value") {
  const bkp_header_view frozen = bkp_layout_frozen_c();
  const bkp_header_view live = bkp_layout_live_c();
  REQUIRE(frozen.constant_count == live.constant_count);
  CHECK(frozen.constant_count > 40);
  for (size_t i = 0; i < frozen.constant_count; ++i) {
    INFO(frozen.constants[i].name);
    CHECK(std::strcmp(live.constants[i].name, frozen.constants[i].name) == 0);
    CHECK(live.constants[i].value == frozen.constants[i].value);
  }
}

// ---- 1.2: appended after the 1.1 table, laid out as published (LP64) ----
static_assert(offsetof(bkp_provider, archive) == 120, "bkp_provider.archive moved");
static_assert(offsetof(bkp_provider, archive_status) == 128, "bkp_provider.archive_status moved");
static_assert(offsetof(bkp_provider, locks) == 136, "bkp_provider.locks moved");
static_assert(sizeof(bkp_provider) == 144, "bkp_provider grew past 1.2");
static_assert(offsetof(bkp_lock_info, struct_size) == 0 &&
                  offsetof(bkp_lock_info, exclusive) == 4 && offsetof(bkp_lock_info, id) == 8 &&
                  offsetof(bkp_lock_info, operation) == 16 && offsetof(bkp_lock_info, host) == 24 &&
                  offsetof(bkp_lock_info, pid) == 32 && offsetof(bkp_lock_info, since_ms) == 40 &&
                  offsetof(bkp_lock_info, refreshed_ms) == 48 &&
                  offsetof(bkp_lock_info, stale) == 56 && offsetof(bkp_lock_info, removed) == 64 &&
                  offsetof(bkp_lock_info, reserved0) == 68 && sizeof(bkp_lock_info) == 72,
              "bkp_lock_info differs from its 1.2 layout");

TEST_CASE("abi layout: 1.2 appends the locks callback and its capability, nothing else moves") {
  CHECK(BKP_ABI_VERSION_MINOR >= 2);
  CHECK(BKP_CAP_LOCKS == (1ull << 9));
  CHECK(BKP_LOCKS_REMOVE_STALE == 0x1u);
  // The 1.1 capability bits below it are untouched.
  CHECK(BKP_CAP_ARCHIVE == (1ull << 7));
  CHECK(BKP_CAP_POINT_IN_TIME == (1ull << 8));
  const std::string header = ReadFile(BKP_LIVE_HEADER);
  CHECK(HeaderStructs(header).count("bkp_lock_info") == 1);
  // Marked with the version that brought it, as every field is.
  CHECK(header.find("bkp_status (*locks)(bkp_instance* instance, uint32_t flags") !=
        std::string::npos);
  CHECK(header.find("/* v1.2, BKP_CAP_LOCKS.") != std::string::npos);
}
