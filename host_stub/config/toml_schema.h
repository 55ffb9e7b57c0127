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
#include <optional>
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
// The field's current value as TOML text ("64MiB" in quotes, 8124, [...]), or
// nullopt when it is unset (an optional path): the key is then written
// commented out, with its example.
using Writer = std::function<std::optional<std::string>()>;

struct Key;
// How a key is read and written back. A scalar has a Writer; a sub-table
// (TableOf) has its keys; an array of tables renders itself (`render`,
// given the key's path and whether defaults are commented out).
struct Field {
  Field() = default;
  // Implicit, so a bare Reader still makes a Key; such a key cannot be
  // written back, and RenderTable refuses it (the config tests render every
  // key, so one added without a Writer is found).
  Field(Reader r);
  Field(Reader r, Writer w);

  Reader read;
  Writer write;
  std::vector<Key> table;
  std::function<std::string(const std::string& path, bool comment_defaults)> render;
};

struct Key {
  std::string_view name;
  Field field;
  // What the key means, its unit and range: the comment above it in the
  // rendered config. Lines are separated by '\n', without the "# ".
  std::string_view doc = {};
  // Written (commented out) in place of an unset value: `key = example`.
  std::string_view example = {};
};

// Out of line: `table` needs Key complete.
inline Field::Field(Reader r) : read(std::move(r)) {}
inline Field::Field(Reader r, Writer w) : read(std::move(r)), write(std::move(w)) {}

// A table rendered as TOML: for each key its doc as comment lines, then
// `key = value`; sub-tables follow as [path.key] sections (`path` "" is the
// top level). With `baseline` (the same key list bound to the defaults),
// a value equal to its default is written commented out: an example in
// which only what differs from the defaults is live.
// A key without a Writer (or table, or render) is refused (Unsupported): a key
// the reference would silently leave out.
Result<std::string> RenderTable(const std::vector<Key>& keys, const std::string& path,
                                const std::vector<Key>* baseline = nullptr);
// `text` as comment lines ("# " before each line; "#" alone for an empty one).
std::string CommentLines(std::string_view text);
// A TOML basic string, with the escapes TOML needs.
std::string TomlString(std::string_view s);
// `key` as a TOML key: bare if it can be, else quoted.
std::string TomlKey(std::string_view key);
// A value of a provider's settings table (string, integer or boolean) as TOML.
std::string TomlScalar(const toml::node& node);

// Reads every key of `table` (at `path`, "" for the top level) with its
// Reader, in the file's order; a key not in `keys` is an error listing the
// known ones. `header` names the table in that message; by default "[path]".
Status WalkTable(const toml::table& table, const std::string& path, std::string_view source,
                 const std::vector<Key>& keys, std::string_view header = {});

// A sub-table read (and rendered) with its own keys.
Field TableOf(std::vector<Key> keys);
// A non-empty string: an empty address or directory is always a mistake.
Field NonEmptyString(std::string& out);
// A non-empty path (empty would quietly mean the working directory); an empty
// field is written as unset.
Field PathValue(std::filesystem::path& out);
// An integer in [min, max] into `*out`, or an error naming the range.
Status CheckIntegerRange(const Value& v, int64_t min, int64_t max, int64_t* out);
// A boolean; `*line` gets the line it was set on.
Field Boolean(bool& out, uint32_t* line);
// Whole seconds in [0, max]; `*line` gets the line it was set on.
Field Seconds(std::chrono::seconds& out, int64_t max, uint32_t* line);
// Milliseconds, at least `min`.
Field Millis(std::chrono::milliseconds& out, int64_t min);
// A number of bytes: an integer, or a string with a binary unit ("64MiB").
// Written with the largest unit that divides it exactly.
Field ByteSize(uint64_t& out, uint64_t min);
// An array of host names (or address literals) for Host/Origin checks.
Field HostNames(std::vector<std::string>& out);

template <typename T>
Field Integer(T& out, int64_t min, int64_t max) {
  return {[&out, min, max](const Value& v) -> Status {
            int64_t n = 0;
            HOSTSTUB_RETURN_IF_ERROR(CheckIntegerRange(v, min, max, &n));
            out = static_cast<T>(n);
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> { return std::to_string(out); }};
}

// One of a fixed set of strings, each standing for a value of E.
template <typename E>
Field OneOf(E& out, std::vector<std::pair<std::string_view, E>> choices) {
  Writer write = [&out, choices]() -> std::optional<std::string> {
    for (const auto& [name, e] : choices) {
      if (e == out) return TomlString(name);
    }
    return std::nullopt;
  };
  Reader read = [&out, choices = std::move(choices)](const Value& v) -> Status {
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
  return {std::move(read), std::move(write)};
}

// Parses TOML text; a syntax error is InvalidArgument "source:line:column: why".
Status ParseToml(std::string_view text, std::string_view source, toml::table* out);

}  // namespace hoststub::toml_schema
