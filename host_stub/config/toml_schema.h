// A strict reader for TOML configuration: a schema is a list of known keys
// per table, each with a Reader that checks the value's type and range and
// stores it, so a typo or a bad value is an error naming the source, the
// line and the key rather than a silent fall-back to a default. The host's
// own schema (which keys exist) is in host_config.cc; this is the walker and
// the readers of the common kinds of value.
//
// Readers capture a reference to the field they fill: the field must outlive
// every walk the reader is used in. Errors are InvalidArgument, prefixed
// "source:line: ".
//
// Thread-safety: pure functions of their arguments.
#pragma once

#include <toml++/toml.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "util/status.h"

namespace hoststub::toml_schema {

// "integer", "table", ...: a node's type as an error message names it.
std::string_view TypeName(const toml::node& node);
// `s` between double quotes.
std::string Quoted(std::string_view s);
// "a, b, c".
std::string JoinNames(const std::vector<std::string_view>& names);
// InvalidArgument "source:line: what".
Status ErrorAt(std::string_view source, uint32_t line, std::string_view what);

// One value found in the file, with what an error message about it needs.
// Borrows the node and the source name.
class Value {
 public:
  Value(const toml::node& node, std::string path, std::string_view source, uint32_t line)
      : node_(node), path_(std::move(path)), source_(source), line_(line) {}

  const toml::node& node() const { return node_; }
  const std::string& path() const { return path_; }
  std::string_view source() const { return source_; }
  uint32_t line() const { return line_; }

  Status Error(std::string_view what) const { return ErrorAt(source_, line_, what); }
  // `expected` carries its article: "an integer", "a string".
  Status TypeError(std::string_view expected) const {
    return Error("'" + path_ + "' must be " + std::string(expected) + ", got " +
                 std::string(TypeName(node_)));
  }

 private:
  const toml::node& node_;
  std::string path_;
  std::string_view source_;
  uint32_t line_;
};

// A known key and how to read its value. Readers capture the field they fill,
// so a table's keys are listed next to the struct they go into.
using Reader = std::function<Status(const Value&)>;
struct Key {
  std::string_view name;
  Reader read;
};

// Reads every key of `table` (at `path`, "" for the top level) with its
// Reader, in the file's order; a key not in `keys` is an error listing the
// known ones. `header` names the table in that message; by default "[path]".
Status WalkTable(const toml::table& table, const std::string& path, std::string_view source,
                 const std::vector<Key>& keys, std::string_view header = {});

// A sub-table read with its own keys.
Reader TableOf(std::vector<Key> keys);
// A non-empty string: an empty address or directory is always a mistake.
Reader NonEmptyString(std::string& out);
// A non-empty path (empty would quietly mean the working directory).
Reader PathValue(std::filesystem::path& out);
// An integer in [min, max] into `*out`, or an error naming the range.
Status CheckIntegerRange(const Value& v, int64_t min, int64_t max, int64_t* out);
// A boolean; `*line` gets the line it was set on.
Reader Boolean(bool& out, uint32_t* line);
// Whole seconds in [0, max]; `*line` gets the line it was set on.
Reader Seconds(std::chrono::seconds& out, int64_t max, uint32_t* line);
// Milliseconds, at least `min`.
Reader Millis(std::chrono::milliseconds& out, int64_t min);
// A number of bytes: an integer, or a string with a binary unit ("64MiB").
Reader ByteSize(uint64_t& out, uint64_t min);
// An array of host names (or address literals) for Host/Origin checks.
Reader HostNames(std::vector<std::string>& out);

template <typename T>
Reader Integer(T& out, int64_t min, int64_t max) {
  return [&out, min, max](const Value& v) -> Status {
    int64_t n = 0;
    HOSTSTUB_RETURN_IF_ERROR(CheckIntegerRange(v, min, max, &n));
    out = static_cast<T>(n);
    return Status::OK();
  };
}

// One of a fixed set of strings, each standing for a value of E.
template <typename E>
Reader OneOf(E& out, std::vector<std::pair<std::string_view, E>> choices) {
  return [&out, choices = std::move(choices)](const Value& v) -> Status {
    const toml::value<std::string>* s = v.node().as_string();
    if (s == nullptr) return v.TypeError("a string");
    std::vector<std::string_view> names;
    for (const auto& [name, e] : choices) {
      if (name == s->get()) {
        out = e;
        return Status::OK();
      }
      names.push_back(name);
    }
    return v.Error("'" + v.path() + "' must be one of " + JoinNames(names) + ", got " +
                   Quoted(s->get()));
  };
}

// Parses TOML text; a syntax error is InvalidArgument "source:line:column: why".
Status ParseToml(std::string_view text, std::string_view source, toml::table* out);

}  // namespace hoststub::toml_schema
