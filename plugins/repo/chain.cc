// Chain resolution (see chain.h).
#include "repo/chain.h"

#include <algorithm>
#include <optional>
#include <set>

#include "bkp/bkp_plugin.hpp"

namespace repo {
namespace {

// The newest backup older than `before` whose own chain resolves: the last
// point an operator can still go back to. Bounded, as it may load a lot.
std::optional<std::string> LastRestorableBefore(Repository& repository, const std::string& before) {
  auto ids = repository.ListIds();
  int tries = 0;
  for (auto it = ids.rbegin(); it != ids.rend() && tries < 64; ++it) {
    if (*it >= before) continue;
    ++tries;
    try {
      ResolveState(repository, *it, /*explain=*/false);
      return *it;
    } catch (const bkp::Error&) {
    }
  }
  return std::nullopt;
}

[[noreturn]] void Broken(Repository& repository, const std::string& tip,
                         const std::string& break_at, bool explain, const std::string& why) {
  std::string last;
  if (explain) {
    auto restorable = LastRestorableBefore(repository, break_at);
    last = restorable ? "; the newest backup before the break that can be restored is '" +
                            *restorable + "'"
                      : "; no older backup can be restored either: take a full backup";
  }
  throw bkp::Error(BKP_E_BROKEN_CHAIN,
                   "backup '" + tip + "' cannot be restored, its chain is broken: " + why + last);
}

}  // namespace

std::vector<FileEntry> BackupState::RestoreOrder() const {
  std::vector<FileEntry> out;
  out.reserve(files.size());
  for (const auto& [key, file] : files) out.push_back(file);
  std::stable_sort(out.begin(), out.end(), [](const FileEntry& a, const FileEntry& b) {
    return std::tie(a.role, a.context, a.base) < std::tie(b.role, b.context, b.base);
  });
  return out;
}

uint64_t BackupState::TotalBytes() const {
  uint64_t total = 0;
  for (const auto& [key, file] : files) total += file.size;
  return total;
}

void ApplyManifest(BackupState* state, Manifest m) {
  if (!m.incremental()) state->files.clear();
  for (const auto& key : m.dropped) state->files.erase(key);
  for (auto& f : m.files) {
    for (auto& c : f.chunks) c.stored_by = m.id;
    if (f.inherit > 0) {
      auto parent = state->files.find(f.key());
      if (parent == state->files.end() || parent->second.size < f.inherit) {
        throw bkp::Error(BKP_E_BROKEN_CHAIN,
                         "backup '" + m.id + "' continues " + FileLabel(f.key()) + " from byte " +
                             std::to_string(f.inherit) + ", which its parent '" +
                             m.parent.value_or("") + "' does not hold");
      }
      std::vector<Chunk> chunks;
      for (const auto& c : parent->second.chunks) {
        if (c.end() > f.inherit) break;
        chunks.push_back(c);
      }
      if (chunks.empty() || chunks.back().end() != f.inherit) {
        throw bkp::Error(BKP_E_BROKEN_CHAIN, "backup '" + m.id + "' continues " +
                                                 FileLabel(f.key()) + " from byte " +
                                                 std::to_string(f.inherit) +
                                                 ", which is not a chunk boundary of its parent");
      }
      chunks.insert(chunks.end(), f.chunks.begin(), f.chunks.end());
      f.chunks = std::move(chunks);
      f.inherit = 0;
    }
    state->files[f.key()] = std::move(f);
  }
  // Each file now lives in the state; the moved-from husks would only
  // hold memory (24 000 of them at scale).
  std::vector<FileEntry>().swap(m.files);
  state->chain.push_back(m.id);
  state->tip = std::move(m);
}

BackupState ResolveState(Repository& repository, const std::string& id, bool explain) {
  // Walk up from the tip to the full base, then apply downwards.
  std::vector<Manifest> links{repository.Load(id)};
  std::set<std::string> seen{id};
  while (links.back().incremental()) {
    const Manifest& child = links.back();
    if (!child.parent || child.parent->empty()) {
      Broken(repository, id, child.id, explain,
             "incremental backup '" + child.id + "' names no parent");
    }
    const std::string parent = *child.parent;
    if (!seen.insert(parent).second) {
      Broken(repository, id, child.id, explain,
             "backup '" + parent + "' appears twice in its own chain");
    }
    try {
      links.push_back(repository.Load(parent));
    } catch (const bkp::Error& e) {
      const std::string why = "backup '" + parent + "', the parent of '" + child.id + "', is " +
                              (e.status() == BKP_E_NOT_FOUND ? "missing" : "unreadable") + " (" +
                              e.what() + ")";
      Broken(repository, id, parent, explain, why);
    }
  }
  std::reverse(links.begin(), links.end());
  BackupState state;
  for (auto& link : links) {
    const std::string link_id = link.id;
    try {
      ApplyManifest(&state, std::move(link));
    } catch (const bkp::Error& e) {
      Broken(repository, id, link_id, explain, e.what());
    }
  }
  return state;
}

}  // namespace repo
