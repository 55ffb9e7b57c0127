// Shared by the plugin_host tests: where the fixture plugins are, configs
// built around them, and a log sink that keeps what providers logged.
// Not thread-safe except LogCapture, whose function plugins may call from
// any thread.
#pragma once

#include <dlfcn.h>

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <vector>

#include "config/host_config.h"
#include "plugin_host/provider_registry.h"
#include "test_support.h"

namespace plugin_host_testing {

inline std::filesystem::path FixtureDir() { return BKP_FIXTURE_DIR; }

// The file of fixture `name`: <fixtures>/bkp_<name>.so.
inline std::filesystem::path Fixture(const std::string& name) {
  return FixtureDir() / ("bkp_" + name + ".so");
}

using testing_support::Contains;

// The config "host.toml": line 1 sets plugin_dir, `body` starts on line 2.
inline hoststub::HostConfig FixtureConfig(const std::string& body,
                                          const std::filesystem::path& plugin_dir = FixtureDir()) {
  auto result =
      hoststub::ParseHostConfig("plugin_dir = '" + plugin_dir.string() + "'\n" + body, "host.toml");
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  return result.value();
}

// One [[providers]] entry; `settings` is TOML for its settings table.
inline std::string ProviderToml(const std::string& name, const std::string& plugin,
                                const std::string& settings = "") {
  std::string toml = "[[providers]]\nname = '" + name + "'\nplugin = '" + plugin + "'\n";
  if (!settings.empty()) toml += "[providers.settings]\n" + settings;
  return toml;
}

// Whether the dynamic loader still has `file` mapped (without loading it).
inline bool IsLoaded(const std::filesystem::path& file) {
  void* handle = dlopen(file.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return false;
  dlclose(handle);
  return true;
}

inline std::string ReadText(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct LogLine {
  std::string provider;
  int32_t level;
  std::string message;
};

class LogCapture {
 public:
  hoststub::ProviderLogFn Fn() {
    return [this](std::string_view provider, int32_t level, std::string_view message) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back({std::string(provider), level, std::string(message)});
    };
  }
  std::vector<LogLine> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<LogLine> lines_;
};

}  // namespace plugin_host_testing
