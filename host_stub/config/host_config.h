// HostConfig: the host's configuration file (TOML), parsed strictly. Every
// unknown key, wrong type or out-of-range value is an error naming the file,
// the line and the key, so a typo never silently falls back to a default.
//
// Thread-safety: pure functions; HostConfig is a plain value.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "storage/options.h"
#include "util/status.h"

namespace hoststub {

struct ServerOptions {
  // Address the admin HTTP API binds to. Loopback by default: the API has no
  // authentication yet.
  std::string listen_address = "127.0.0.1";
  // TCP port; 0 picks a free one (see hostd serve --port-file). Default 8124.
  uint16_t port = 8124;
};

struct HostConfig {
  StorageOptions storage;
  ServerOptions server;
  // Where the config came from ("<built-in defaults>" or a file path), for
  // messages.
  std::string source = "<built-in defaults>";
};

// The configuration hostd uses when no --config is given, as TOML text. It is
// parsed by the same code as a file, so it is always a valid example.
std::string_view DefaultHostConfigToml();

// Parses TOML text. `source_name` names it in error messages.
Result<HostConfig> ParseHostConfig(std::string_view toml_text, std::string_view source_name);

// Reads and parses a config file; a missing or unreadable file is an error.
Result<HostConfig> LoadHostConfig(const std::filesystem::path& file);

}  // namespace hoststub
