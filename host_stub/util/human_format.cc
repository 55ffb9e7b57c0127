// Human-readable formatting shared by the command-line tools.
#include "util/human_format.h"

#include <algorithm>
#include <charconv>
#include <climits>
#include <ctime>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "util/utc_time.h"

namespace hoststub {

std::string FormatBytes(uint64_t bytes) {
  if (bytes < 1024) return fmt::format("{} B", bytes);
  const double b = static_cast<double>(bytes);
  if (bytes < (1u << 20)) return fmt::format("{:.1f} KiB", b / 1024.0);
  if (bytes < (1u << 30)) return fmt::format("{:.1f} MiB", b / (1024.0 * 1024.0));
  return fmt::format("{:.2f} GiB", b / (1024.0 * 1024.0 * 1024.0));
}

std::string FormatEpochMs(int64_t ms) { return FormatUtc(ms, UtcFormat::kHuman); }

std::optional<std::chrono::milliseconds> ParseDuration(std::string_view text) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end == text.data()) return std::nullopt;
  const std::string_view unit(end, static_cast<size_t>(text.data() + text.size() - end));
  static constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
      {"ms", 1},        {"s", 1000},       {"m", 60'000},
      {"h", 3'600'000}, {"d", 86'400'000}, {"w", 604'800'000}};
  for (const auto& [name, ms] : kUnits) {
    if (unit != name) continue;
    if (value > static_cast<uint64_t>(INT64_MAX) / ms) return std::nullopt;
    return std::chrono::milliseconds(static_cast<int64_t>(value * ms));
  }
  return std::nullopt;
}

uint32_t TimelineOfDetails(std::string_view details) {
  const nlohmann::json doc = nlohmann::json::parse(details, nullptr, false);
  if (!doc.is_object() || !doc.contains("timeline") || !doc["timeline"].is_number_unsigned()) {
    return 1;
  }
  return doc["timeline"].get<uint32_t>();
}

void PrintBackupTable(std::ostream& out, const std::vector<BackupTableRow>& backups) {
  std::vector<std::vector<std::string>> rows = {
      {"ID", "TYPE", "CREATED", "SIZE", "STORED", "FILES", "PARENT", "TIMELINE"}};
  for (const BackupTableRow& b : backups) {
    rows.push_back({b.id, b.type, FormatEpochMs(b.created_ms), FormatBytes(b.bytes),
                    FormatBytes(b.stored_bytes), std::to_string(b.files),
                    b.parent.empty() ? "-" : b.parent, std::to_string(b.timeline)});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      const bool number = i >= 3 && i <= 5;
      line += number ? fmt::format("{:>{}}", row[i], widths[i])
                     : fmt::format("{:<{}}", row[i], widths[i]);
      if (i + 1 < row.size()) line += "  ";
    }
    // Trailing padding of the last column helps nobody.
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << '\n';
  }
}

}  // namespace hoststub
