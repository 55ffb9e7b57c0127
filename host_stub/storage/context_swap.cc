// The per-context swap protocol (see context_swap.h): marker, renames, rows.
#include "storage/context_swap.h"

#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <system_error>

#include <fmt/format.h>

#include "util/file.h"
#include "util/utc_time.h"

namespace fs = std::filesystem;

namespace hoststub {
namespace {

constexpr const char* kMarkerName = "swap";
constexpr const char* kMarkerMagic = "context-swap 1";

// A path under the data directory, as the marker records it: relative, so
// the directory may be moved between the crash and the recovery.
Result<std::string> Relative(const fs::path& data_dir, const fs::path& path) {
  const fs::path rel = fs::absolute(path).lexically_normal().lexically_relative(
      fs::absolute(data_dir).lexically_normal());
  if (rel.empty() || *rel.begin() == "..") {
    return Status::InvalidArgument(
        fmt::format("'{}' is not under the data directory '{}'", path.string(), data_dir.string()));
  }
  return rel.string();
}

// One field per line, "key value"; a role's principal and role apart by a tab.
std::string EncodeMarker(const std::string& context, const std::string& staged,
                         const std::string& aside, const ContextRows& rows,
                         const std::optional<TimelineInfo>& timeline) {
  std::string text = std::string(kMarkerMagic) + "\n";
  text += "context " + context + "\n";
  text += "staged " + staged + "\n";
  text += "aside " + (aside.empty() ? std::string("-") : aside) + "\n";
  text += fmt::format("created_ms {}\nterm {}\ncommit_index {}\n", rows.created_ms, rows.state.term,
                      rows.state.commit_index);
  for (const auto& [principal, role] : rows.roles) text += "role " + principal + "\t" + role + "\n";
  if (timeline) {
    text += fmt::format("timeline {}\n", timeline->timeline);
    text += "history " + timeline->history + "\n";
  }
  return text + "end\n";
}

struct Marker {
  std::string context, staged, aside;
  ContextRows rows;
  std::optional<TimelineInfo> timeline;
};

Result<Marker> DecodeMarker(const fs::path& file, const std::string& text) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption(fmt::format(
        "context swap marker '{}' is damaged ({}): the swap it records cannot be finished; "
        "restore the context again",
        file.string(), why));
  };
  std::istringstream in(text);
  std::string line;
  if (!std::getline(in, line) || line != kMarkerMagic) return bad("no header");
  Marker m;
  bool ended = false;
  while (std::getline(in, line)) {
    const size_t sp = line.find(' ');
    const std::string key = line.substr(0, sp);
    const std::string value = sp == std::string::npos ? "" : line.substr(sp + 1);
    try {
      if (key == "context") {
        m.context = value;
      } else if (key == "staged") {
        m.staged = value;
      } else if (key == "aside") {
        m.aside = value == "-" ? "" : value;
      } else if (key == "created_ms") {
        m.rows.created_ms = std::stoll(value);
      } else if (key == "term") {
        m.rows.state.term = std::stoull(value);
      } else if (key == "commit_index") {
        m.rows.state.commit_index = std::stoull(value);
      } else if (key == "role") {
        const size_t tab = value.find('\t');
        if (tab == std::string::npos) return bad("a role line without a tab");
        m.rows.roles.emplace_back(value.substr(0, tab), value.substr(tab + 1));
      } else if (key == "timeline") {
        if (!m.timeline) m.timeline.emplace();
        m.timeline->timeline = static_cast<uint32_t>(std::stoul(value));
      } else if (key == "history") {
        if (!m.timeline) m.timeline.emplace();
        m.timeline->history = value;
      } else if (key == "end") {
        ended = true;
      } else {
        return bad("unknown line '" + line + "'");
      }
    } catch (const std::exception&) {
      return bad("a number that does not parse in '" + line + "'");
    }
  }
  if (!ended || m.context.empty() || m.staged.empty()) return bad("incomplete");
  if (m.timeline && (m.timeline->timeline < 2 || m.timeline->history.empty())) {
    return bad("a timeline without its number or history");
  }
  return m;
}

Result<std::string> ReadMarker(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad() || !in.is_open()) {
    return Status::IOError(fmt::format("cannot read context swap marker '{}'", file.string()));
  }
  return text;
}

// For the crash tests of a real hostd: BKP_TEST_CRASH_SWAP=<step> kills the
// process (SIGKILL: no cleanup, as a power cut) when the swap reaches that
// step, so that recovery can be shown to end in the whole old or the whole
// new context from each. Steps, in order: "staged" (before the marker),
// "decided" (the marker durable, nothing moved), "aside" (the old context
// set aside), "moved" (the restored one in place, rows not yet), "rows" (the
// rows and timeline written, the marker still there).
void CrashPoint(const char* step) {
  const char* at = std::getenv("BKP_TEST_CRASH_SWAP");
  if (at != nullptr && std::strcmp(at, step) == 0) ::raise(SIGKILL);
}

Status Rename(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::rename(from, to, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot rename '{}' to '{}': {}", from.string(), to.string(), ec.message()));
  }
  return Status::OK();
}

// Carries out a durable marker; each step is skipped when already done.
Status RollForward(const fs::path& data_dir, ControlDb& db, const Marker& m) {
  std::error_code ec;
  const fs::path live = data_dir / "contexts" / m.context;
  const fs::path staged = data_dir / m.staged;
  const bool staged_there = fs::exists(staged, ec);
  if (staged_there && fs::exists(live, ec)) {
    if (m.aside.empty()) {
      return Status::Corruption(fmt::format(
          "context swap of '{}': both '{}' and the restored copy '{}' exist and the marker keeps "
          "no old context aside",
          m.context, live.string(), staged.string()));
    }
    const fs::path aside = data_dir / m.aside;
    fs::create_directories(aside.parent_path(), ec);
    HOSTSTUB_RETURN_IF_ERROR(Rename(live, aside));
    HOSTSTUB_RETURN_IF_ERROR(SyncDir(aside.parent_path()));
    CrashPoint("aside");
  }
  if (staged_there) {
    fs::create_directories(live.parent_path(), ec);
    HOSTSTUB_RETURN_IF_ERROR(Rename(staged, live));
    HOSTSTUB_RETURN_IF_ERROR(SyncDir(live.parent_path()));
    HOSTSTUB_RETURN_IF_ERROR(SyncDir(staged.parent_path()));
    CrashPoint("moved");
  } else if (!fs::is_directory(live, ec)) {
    return Status::Corruption(
        fmt::format("context swap of '{}': neither the restored copy '{}' nor '{}' exists",
                    m.context, staged.string(), live.string()));
  }
  HOSTSTUB_RETURN_IF_ERROR(db.ImportContext(m.context, m.rows));
  // After the rows, before the marker goes: an archiver started after a
  // crash here reads the new timeline, never the old one beside the
  // restored context.
  if (m.timeline) HOSTSTUB_RETURN_IF_ERROR(db.SaveTimeline(*m.timeline));
  CrashPoint("rows");
  const fs::path marker = data_dir / kContextRestoreDir / kMarkerName;
  fs::remove(marker, ec);
  if (ec) {
    return Status::IOError(
        fmt::format("cannot remove context swap marker '{}': {}", marker.string(), ec.message()));
  }
  return SyncDir(marker.parent_path());
}

}  // namespace

bool ContextExists(const fs::path& data_dir, ControlDb& db, const std::string& context) {
  std::error_code ec;
  if (fs::exists(data_dir / "contexts" / context, ec)) return true;
  for (const std::string& name : db.ListContexts()) {
    if (name == context) return true;
  }
  return false;
}

Result<fs::path> SwapInContext(const fs::path& data_dir, ControlDb& db,
                               const ContextSwapPlan& plan) {
  const bool exists = ContextExists(data_dir, db, plan.context);
  if (exists && !plan.keep_old_aside) {
    return Status::Refused(
        fmt::format("context {} already exists; use --as NEW or --policy force", plan.context));
  }
  for (const auto& [principal, role] : plan.rows.roles) {
    if ((principal + role).find_first_of("\t\n") != std::string::npos) {
      return Status::InvalidArgument(
          fmt::format("context '{}': role '{}' of '{}' holds a tab or a newline", plan.context,
                      role, principal));
    }
  }
  if (plan.timeline && (plan.timeline->timeline < 2 || plan.timeline->history.empty() ||
                        plan.timeline->history.find('\n') != std::string::npos)) {
    return Status::InvalidArgument(
        fmt::format("context '{}': the new timeline {} needs a history of one line", plan.context,
                    plan.timeline->timeline));
  }
  HOSTSTUB_ASSIGN_OR_RETURN(const std::string staged, Relative(data_dir, plan.staged));
  std::string aside;
  if (exists) {
    const std::string stem = fmt::format("{}/{}.before-restore-{}", kSetAsideDir, plan.context,
                                         FormatUtc(NowMs(), UtcFormat::kCompact));
    aside = stem;
    std::error_code ec;
    for (int n = 2; fs::exists(fs::symlink_status(data_dir / aside, ec)); ++n) {
      aside = stem + "-" + std::to_string(n);
    }
  }
  const std::string text = EncodeMarker(plan.context, staged, aside, plan.rows, plan.timeline);
  const fs::path dir = data_dir / kContextRestoreDir;
  std::error_code ec;
  fs::create_directories(dir, ec);
  CrashPoint("staged");
  // The point of no return: from here the swap rolls forward, also after a crash.
  HOSTSTUB_RETURN_IF_ERROR(WriteFileAtomically(dir / kMarkerName, text.data(), text.size()));
  CrashPoint("decided");
  HOSTSTUB_ASSIGN_OR_RETURN(const Marker marker, DecodeMarker(dir / kMarkerName, text));
  HOSTSTUB_RETURN_IF_ERROR(RollForward(data_dir, db, marker));
  return aside.empty() ? fs::path() : data_dir / aside;
}

Status RecoverContextSwap(const fs::path& data_dir, ControlDb& db,
                          std::vector<std::string>* notes) {
  const fs::path dir = data_dir / kContextRestoreDir;
  std::error_code ec;
  if (!fs::exists(dir, ec)) return Status::OK();
  const fs::path marker_file = dir / kMarkerName;
  const bool decided = fs::exists(marker_file, ec);
  if (decided) {
    HOSTSTUB_ASSIGN_OR_RETURN(const std::string text, ReadMarker(marker_file));
    HOSTSTUB_ASSIGN_OR_RETURN(const Marker marker, DecodeMarker(marker_file, text));
    HOSTSTUB_RETURN_IF_ERROR(RollForward(data_dir, db, marker));
    notes->push_back(fmt::format(
        "finished the restore of context '{}' that was interrupted after it was decided{}",
        marker.context,
        marker.aside.empty() ? "" : "; the old context is kept in " + marker.aside));
  }
  // No marker (any more): what is left is staging nobody will use.
  bool abandoned = false;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    abandoned = true;
    fs::remove_all(entry.path(), ec);
    if (ec) {
      return Status::IOError(fmt::format("cannot remove abandoned restore staging '{}': {}",
                                         entry.path().string(), ec.message()));
    }
  }
  if (abandoned && !decided) {
    notes->push_back(fmt::format(
        "removed the staging of a per-context restore that ended before it was decided ('{}'); "
        "the context it restored was left as it was",
        dir.string()));
  }
  fs::remove(dir, ec);
  return SyncDir(data_dir);
}

}  // namespace hoststub
