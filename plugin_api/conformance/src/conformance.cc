// The kit's driver (conformance.h): loads the library, scripts the fake host
// with the run's settings as the host would check them, runs each group of
// checks and prints the report.
#include "bkp/conformance/conformance.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>

#include "bkp/bkp_plugin.hpp"
#include "bkp/bkp_plugin_c.h"
#include "kit.h"

namespace bkp::conformance {

bool Report::ok() const { return fatal.empty() && failures() == 0; }

size_t Report::failures() const {
  size_t n = 0;
  for (const Result& r : results) n += r.passed ? 0 : 1;
  return n;
}

namespace detail {

void Kit::Conclude(const std::string& check, const Problems& problems) {
  if (problems.empty()) {
    report.results.push_back({check, true, ""});
    return;
  }
  for (const std::string& why : problems) report.results.push_back({check, false, why});
}

bkp_instance* Kit::Open(std::string* why) {
  char err[1024] = "";
  bkp_instance* instance = nullptr;
  // The name outlives the call: args only points at it.
  const bkp_open_args args = host.OpenArgs(provider_name.c_str());
  const bkp_status st = table.open(&args, &instance, err, sizeof err);
  if (st == BKP_OK && instance != nullptr) return instance;
  if (st == BKP_OK) {
    *why = "open returned BKP_OK but left *out NULL";
  } else {
    *why = "open returned " + StatusText(st) + ": " + (err[0] != '\0' ? err : "(no message)");
    if (instance != nullptr) {
      *why += "; and it left *out non-NULL after failing (the ABI says NULL)";
      table.close(instance);
    }
  }
  return nullptr;
}

std::string ProviderName(const Kit& kit) {
  return kit.table.name != nullptr ? kit.table.name : "provider";
}

std::string StatusText(bkp_status status) {
  return std::string(bkp::status_name(status)) + " (" + std::to_string(status) + ")";
}

namespace {

// The host's own settings check (unknown keys, wrong types, missing
// required ones never reach open): the run's settings must pass it, as a
// host config must. Fills the fake host's tables.
std::string ScriptSettings(Kit& kit) {
  std::map<std::string, uint32_t> declared;
  for (const bkp_setting_spec& spec : kit.specs) {
    if (spec.key != nullptr) declared[spec.key] = spec.type;
  }
  kit.host.declared_settings = declared;
  for (const auto& [key, value] : kit.options.settings) {
    auto it = declared.find(key);
    if (it == declared.end()) {
      std::string keys;
      for (const auto& [k, t] : declared) keys += (keys.empty() ? "" : ", ") + k;
      return "unknown setting '" + key + "': provider '" + ProviderName(kit) + "' accepts " +
             (keys.empty() ? std::string("no settings") : keys);
    }
    if (it->second == BKP_SETTING_STRING) {
      kit.host.string_settings[key] = value;
    } else if (it->second == BKP_SETTING_INT) {
      char* end = nullptr;
      errno = 0;
      const long long v = std::strtoll(value.c_str(), &end, 10);
      if (value.empty() || *end != '\0' || errno != 0) {
        return "setting '" + key + "' is an integer; '" + value + "' is not one";
      }
      kit.host.int_settings[key] = v;
    } else if (it->second == BKP_SETTING_BOOL) {
      if (value != "true" && value != "false" && value != "1" && value != "0") {
        return "setting '" + key + "' is a boolean (true/false); '" + value + "' is not one";
      }
      kit.host.bool_settings[key] = value == "true" || value == "1";
    }
  }
  for (const bkp_setting_spec& spec : kit.specs) {
    if (spec.key == nullptr || (spec.flags & BKP_SETTING_REQUIRED) == 0) continue;
    const std::string key = spec.key;
    if (!kit.host.string_settings.count(key) && !kit.host.int_settings.count(key) &&
        !kit.host.bool_settings.count(key)) {
      return "setting '" + key + "' is required by provider '" + ProviderName(kit) +
             "': pass --setting " + key + "=...";
    }
  }
  return "";
}

}  // namespace
}  // namespace detail

Report Run(const Options& options) {
  Report report;
  try {
    fake::PluginLibrary library(options.plugin);
    detail::Kit kit{options, report, library, nullptr, {}, {}, {}, {}};
    detail::CheckEntry(kit);
    if (kit.provider == nullptr) {
      report.fatal = "the entry point refused this host (ABI " +
                     std::to_string(BKP_ABI_VERSION_MAJOR) + "." +
                     std::to_string(BKP_ABI_VERSION_MINOR) + "); nothing else can be checked";
      return report;
    }
    detail::CheckTable(kit);
    kit.provider_name = detail::ProviderName(kit);
    if (kit.table.open == nullptr || kit.table.close == nullptr) {
      report.fatal = "the table has no open or close; nothing else can be checked";
      return report;
    }
    if (std::string why = detail::ScriptSettings(kit); !why.empty()) {
      report.fatal = why;
      return report;
    }
    detail::CheckSettings(kit);
    detail::CheckOpenClose(kit);
    detail::CheckErrorBuffers(kit);
    detail::CheckOperations(kit);
  } catch (const std::exception& e) {
    report.fatal = std::string("cannot load '") + options.plugin + "': " + e.what();
  }
  return report;
}

void Print(const Report& report, std::FILE* out) {
  for (const Result& r : report.results) {
    if (r.passed) {
      std::fprintf(out, "PASS  %s\n", r.check.c_str());
    } else {
      std::fprintf(out, "FAIL  %s: %s\n", r.check.c_str(), r.why.c_str());
    }
  }
  for (const std::string& note : report.notes) std::fprintf(out, "NOTE  %s\n", note.c_str());
  if (!report.fatal.empty()) std::fprintf(out, "ERROR %s\n", report.fatal.c_str());
  std::fprintf(out, "%zu checks, %zu failed%s\n", report.results.size(), report.failures(),
               report.fatal.empty() ? "" : ", run stopped early");
}

}  // namespace bkp::conformance
