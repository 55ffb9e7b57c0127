// The TOML schema walker and its readers (see toml_schema.h).
#include "config/toml_schema.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <exception>
#include <limits>

namespace hoststub::toml_schema {
namespace {

// "512KiB" -> 524288. Binary units only, spelt exactly, so "64MB" (which some
// would read as 10^6) is refused rather than guessed at.
bool ParseSizeString(std::string_view text, uint64_t* bytes) {
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"B", 1}, {"KiB", 1ull << 10}, {"MiB", 1ull << 20}, {"GiB", 1ull << 30}};
  uint64_t number = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
  if (ec != std::errc() || end == text.data()) return false;
  std::string_view suffix(end, static_cast<size_t>(text.data() + text.size() - end));
  for (const auto& [unit, multiplier] : kUnits) {
    if (suffix != unit) continue;
    if (number > std::numeric_limits<uint64_t>::max() / multiplier) return false;
    *bytes = number * multiplier;
    return true;
  }
  return false;
}

std::string Position(std::string_view source, const toml::source_position& pos) {
  return std::string(source) + ":" + std::to_string(pos.line) + ":" + std::to_string(pos.column);
}

}  // namespace

std::string_view TypeName(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::none:
      return "nothing";
    case toml::node_type::table:
      return "table";
    case toml::node_type::array:
      return "array";
    case toml::node_type::string:
      return "string";
    case toml::node_type::integer:
      return "integer";
    case toml::node_type::floating_point:
      return "float";
    case toml::node_type::boolean:
      return "boolean";
    case toml::node_type::date:
      return "date";
    case toml::node_type::time:
      return "time";
    case toml::node_type::date_time:
      return "date-time";
  }
  return "unknown type";
}

// Built by appending: GCC 12 at -O3 warns (-Wrestrict, falsely) on "\"" + s.
std::string Quoted(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  out += s;
  out += '"';
  return out;
}

std::string JoinNames(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::string_view name : names) {
    if (!out.empty()) out += ", ";
    out += name;
  }
  return out;
}

Status ErrorAt(std::string_view source, uint32_t line, std::string_view what) {
  return Status::InvalidArgument(std::string(source) + ":" + std::to_string(line) + ": " +
                                 std::string(what));
}

Status WalkTable(const toml::table& table, const std::string& path, std::string_view source,
                 const std::vector<Key>& keys, std::string_view header) {
  struct Entry {
    const toml::key* key;
    const toml::node* node;
  };
  std::vector<Entry> entries;
  for (auto&& [key, node] : table) entries.push_back({&key, &node});
  // toml::table iterates in key order; the file's order makes the reported
  // error the first one a reader of the file comes to.
  std::stable_sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) {
    const auto& pa = a.key->source().begin;
    const auto& pb = b.key->source().begin;
    return pa.line != pb.line ? pa.line < pb.line : pa.column < pb.column;
  });

  for (const Entry& entry : entries) {
    std::string key_path =
        path.empty() ? std::string(entry.key->str()) : path + "." + std::string(entry.key->str());
    uint32_t line = entry.key->source().begin.line;
    if (line == 0) line = entry.node->source().begin.line;
    Value value(*entry.node, key_path, source, line);

    auto known = std::find_if(keys.begin(), keys.end(),
                              [&](const Key& k) { return k.name == entry.key->str(); });
    if (known == keys.end()) {
      std::vector<std::string_view> names;
      for (const Key& k : keys) names.push_back(k.name);
      bool is_table = entry.node->is_table() || entry.node->is_array_of_tables();
      std::string where = !header.empty() ? "in " + std::string(header)
                          : path.empty()  ? "at the top level"
                                          : "in [" + path + "]";
      return value.Error(std::string(is_table ? "unknown table '" : "unknown key '") + key_path +
                         "' (known keys " + where + ": " + JoinNames(names) + ")");
    }
    HOSTSTUB_RETURN_IF_ERROR(known->field.read(value));
  }
  return Status::OK();
}

Field TableOf(std::vector<Key> keys) {
  Field field;
  field.read = [keys](const Value& v) -> Status {
    const toml::table* table = v.node().as_table();
    if (table == nullptr) return v.TypeError("a table");
    return WalkTable(*table, v.path(), v.source(), keys);
  };
  field.table = std::move(keys);
  return field;
}

// Non-empty: an empty address or directory is always a mistake, and an empty
// path would quietly mean the working directory.
Field NonEmptyString(std::string& out) {
  return {[&out](const Value& v) -> Status {
            const toml::value<std::string>* s = v.node().as_string();
            if (s == nullptr) return v.TypeError("a string");
            if (s->get().empty()) return v.Error("'" + v.path() + "' must not be empty");
            out = s->get();
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> { return TomlString(out); }};
}

Field PathValue(std::filesystem::path& out) {
  return {[&out](const Value& v) -> Status {
            const toml::value<std::string>* s = v.node().as_string();
            if (s == nullptr) return v.TypeError("a string");
            if (s->get().empty()) return v.Error("'" + v.path() + "' must not be empty");
            out = s->get();
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> {
            if (out.empty()) return std::nullopt;
            return TomlString(out.string());
          }};
}

Status CheckIntegerRange(const Value& v, int64_t min, int64_t max, int64_t* out) {
  const toml::value<int64_t>* i = v.node().as_integer();
  if (i == nullptr) return v.TypeError("an integer");
  int64_t n = i->get();
  if (n < min || n > max) {
    std::string range = max == std::numeric_limits<int64_t>::max()
                            ? "at least " + std::to_string(min)
                            : "between " + std::to_string(min) + " and " + std::to_string(max);
    return v.Error("'" + v.path() + "' must be " + range + ", got " + std::to_string(n));
  }
  *out = n;
  return Status::OK();
}

Field Boolean(bool& out, uint32_t* line) {
  return {[&out, line](const Value& v) -> Status {
            const toml::value<bool>* b = v.node().as_boolean();
            if (b == nullptr) return v.TypeError("a boolean (true or false)");
            out = b->get();
            *line = v.line();
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> { return out ? "true" : "false"; }};
}

Field Seconds(std::chrono::seconds& out, int64_t max, uint32_t* line) {
  return {[&out, max, line](const Value& v) -> Status {
            int64_t n = 0;
            HOSTSTUB_RETURN_IF_ERROR(CheckIntegerRange(v, 0, max, &n));
            out = std::chrono::seconds(n);
            *line = v.line();
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> { return std::to_string(out.count()); }};
}

Field Millis(std::chrono::milliseconds& out, int64_t min) {
  return {[&out, min](const Value& v) -> Status {
            int64_t n = 0;
            HOSTSTUB_RETURN_IF_ERROR(
                CheckIntegerRange(v, min, std::numeric_limits<int64_t>::max(), &n));
            out = std::chrono::milliseconds(n);
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> { return std::to_string(out.count()); }};
}

Field ByteSize(uint64_t& out, uint64_t min) {
  Reader read = [&out, min](const Value& v) -> Status {
    uint64_t bytes = 0;
    std::string shown;
    if (const toml::value<int64_t>* i = v.node().as_integer()) {
      shown = std::to_string(i->get());
      bytes = i->get() < 0 ? 0 : static_cast<uint64_t>(i->get());
    } else if (const toml::value<std::string>* s = v.node().as_string()) {
      shown = Quoted(s->get());
      if (!ParseSizeString(s->get(), &bytes)) {
        return v.Error("'" + v.path() +
                       "' must be a number of bytes with a suffix B, KiB, MiB or GiB (e.g. "
                       "\"64MiB\"), got " +
                       shown);
      }
    } else {
      return v.TypeError("an integer or a string such as \"64MiB\"");
    }
    if (bytes < min) {
      return v.Error("'" + v.path() + "' must be at least " + std::to_string(min) + " bytes, got " +
                     shown);
    }
    out = bytes;
    return Status::OK();
  };
  // The largest unit that divides the size exactly, so "64MiB" comes back as
  // written; an odd size stays a plain integer (which also fits any value a
  // TOML integer holds: sizes above 2^63 only come from a unit, hence exact).
  Writer write = [&out]() -> std::optional<std::string> {
    static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
        {"GiB", 1ull << 30}, {"MiB", 1ull << 20}, {"KiB", 1ull << 10}};
    for (const auto& [unit, multiplier] : kUnits) {
      if (out != 0 && out % multiplier == 0) {
        return TomlString(std::to_string(out / multiplier) + std::string(unit));
      }
    }
    if (out > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return TomlString(std::to_string(out) + "B");
    }
    return std::to_string(out);
  };
  return {std::move(read), std::move(write)};
}

// An array of host names (or address literals) for Host/Origin checks.
Field HostNames(std::vector<std::string>& out) {
  return {[&out](const Value& v) -> Status {
            const toml::array* array = v.node().as_array();
            if (array == nullptr) return v.TypeError("an array of strings");
            out.clear();
            for (const toml::node& element : *array) {
              const toml::value<std::string>* s = element.as_string();
              if (s == nullptr || s->get().empty() ||
                  s->get().find_first_of(" /:@") != std::string::npos) {
                return v.Error("'" + v.path() +
                               "' must list host names without scheme or port, such as "
                               "[\"backup.example.com\"]");
              }
              out.push_back(s->get());
            }
            return Status::OK();
          },
          [&out]() -> std::optional<std::string> {
            std::string text = "[";
            for (const std::string& name : out) {
              if (text.size() > 1) text += ", ";
              text += TomlString(name);
            }
            return text + "]";
          }};
}

std::string CommentLines(std::string_view text) {
  std::string out;
  size_t at = 0;
  while (at <= text.size()) {
    const size_t end = std::min(text.find('\n', at), text.size());
    const std::string_view line = text.substr(at, end - at);
    out += line.empty() ? "#\n" : "# " + std::string(line) + "\n";
    at = end + 1;
  }
  return out;
}

// TOML basic strings: ", \ and control characters escaped, the rest as is
// (UTF-8 passes through).
std::string TomlString(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\t') {
      out += "\\t";
    } else if (u < 0x20 || u == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", u);
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string TomlKey(std::string_view key) {
  const bool bare = !key.empty() && std::all_of(key.begin(), key.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  return bare ? std::string(key) : TomlString(key);
}

std::string TomlScalar(const toml::node& node) {
  if (const toml::value<std::string>* s = node.as_string()) return TomlString(s->get());
  if (const toml::value<int64_t>* i = node.as_integer()) return std::to_string(i->get());
  if (const toml::value<bool>* b = node.as_boolean()) return b->get() ? "true" : "false";
  // ParseHostConfig accepts nothing else in a settings table; a float or a
  // date would have been refused there.
  return "\"<" + std::string(TypeName(node)) + ">\"";
}

Result<std::string> RenderTable(const std::vector<Key>& keys, const std::string& path,
                                const std::vector<Key>* baseline) {
  // TOML puts a table's own keys before its sub-tables: scalars first, then
  // the tables in schema order.
  std::string scalars;
  std::string tables;
  for (size_t i = 0; i < keys.size(); ++i) {
    const Key& key = keys[i];
    const Key* base = baseline != nullptr && i < baseline->size() && (*baseline)[i].name == key.name
                          ? &(*baseline)[i]
                          : nullptr;
    const std::string key_path =
        path.empty() ? std::string(key.name) : path + "." + std::string(key.name);
    if (key.field.render) {
      tables += "\n" + CommentLines(key.doc);
      tables += key.field.render(key_path, baseline != nullptr);
      continue;
    }
    if (!key.field.table.empty()) {
      HOSTSTUB_ASSIGN_OR_RETURN(
          std::string body,
          RenderTable(key.field.table, key_path, base != nullptr ? &base->field.table : nullptr));
      tables += "\n[" + key_path + "]\n";
      if (!key.doc.empty()) tables += CommentLines(key.doc);
      // Each key's block starts with a blank line; not right under the header.
      tables += body.empty() ? body : body.substr(1);
      continue;
    }
    if (!key.field.write) {
      return Status::Unsupported("config key '" + key_path +
                                 "' has no Writer: it would be missing from the rendered config");
    }
    if (key.doc.empty()) {
      return Status::Unsupported("config key '" + key_path + "' has no documentation");
    }
    const std::optional<std::string> value = key.field.write();
    std::string line;
    if (!value) {
      line = "# " + TomlKey(key.name) + " = " + std::string(key.example) + "\n";
    } else if (base != nullptr && base->field.write && base->field.write() == value) {
      line = "# " + TomlKey(key.name) + " = " + *value + "\n";
    } else {
      line = TomlKey(key.name) + " = " + *value + "\n";
    }
    scalars += "\n" + CommentLines(key.doc) + line;
  }
  return scalars + tables;
}

// toml++ reports syntax errors by exception or by return value depending on
// how it was built; both end up as the same Status.
Status ParseToml(std::string_view text, std::string_view source, toml::table* out) {
#if TOML_EXCEPTIONS
  try {
    *out = toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    return Status::InvalidArgument(Position(source, e.source().begin) + ": " +
                                   std::string(e.description()));
  }
#else
  toml::parse_result result = toml::parse(text, source);
  if (!result) {
    return Status::InvalidArgument(Position(source, result.error().source().begin) + ": " +
                                   std::string(result.error().description()));
  }
  *out = std::move(result).table();
#endif
  return Status::OK();
}

}  // namespace hoststub::toml_schema
