// ControlDb: the host's control database (SQLite, WAL journal mode): contexts,
// applications and users, and each context's replication state (term and
// commit index). Small and rewritten in place, which is why a backup must
// copy it through SQLite's online backup API, never as a raw file.
//
// Thread-safety: all methods may be called from any thread (one connection,
// serialised by an internal mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "util/status.h"

struct sqlite3;

namespace hoststub {

struct ReplicationState {
  uint64_t term = 0;
  uint64_t commit_index = 0;
};

// Which history of the data this directory continues (PostgreSQL's
// timelines): 1 until a restore from a continuous archive puts it on a new
// one, so that its archive goes on beside the one it was restored from.
struct TimelineInfo {
  uint32_t timeline = 1;
  // The JSON history object the restore recorded (parent, branch point per
  // context); empty on timeline 1.
  std::string history;
};

// Every row the control DB holds about one context: what a per-context
// restore carries from the restored backup into a live directory.
struct ContextRows {
  int64_t created_ms = 0;
  ReplicationState state;
  std::vector<std::pair<std::string, std::string>> roles;  // (principal, role)
};

class ControlDb {
 public:
  // Opens or creates the database and its schema. `read_only` opens an
  // existing file without changing it (for the checker).
  static Result<std::unique_ptr<ControlDb>> Open(const std::filesystem::path& file,
                                                 bool read_only = false);
  ~ControlDb();
  ControlDb(const ControlDb&) = delete;
  ControlDb& operator=(const ControlDb&) = delete;

  // Registers a context with its replication state row, if not already there.
  Status EnsureContext(const std::string& name);
  std::vector<std::string> ListContexts();
  Result<std::map<std::string, ReplicationState>> LoadReplicationStates();
  Status SaveTerm(const std::string& context, uint64_t term);
  // Writes every given commit index in one transaction.
  Status SaveCommitIndexes(const std::map<std::string, uint64_t>& commit_indexes);

  // The rows of `name`; NotFound when the control DB does not know it.
  Result<ContextRows> ExportContext(const std::string& name);
  // Replaces every row of `name` (context, replication state, roles) with
  // `rows`, in one transaction: a crash leaves the old rows or the new.
  Status ImportContext(const std::string& name, const ContextRows& rows);
  // Removes every row of `name`, in one transaction; OK when there is none.
  Status RemoveContext(const std::string& name);

  // The directory's timeline; timeline 1 when none was ever recorded (also
  // in a database older than the timeline table).
  Result<TimelineInfo> LoadTimeline();
  Status SaveTimeline(const TimelineInfo& timeline);

  // Applications and users that may access contexts. The reference host only
  // stores them; they are part of what a backup must carry.
  Status AddApplication(const std::string& name, const std::string& description);
  Status AddUser(const std::string& name, const std::string& password_hash);
  Status GrantRole(const std::string& principal, const std::string& context,
                   const std::string& role);

  // Writes a consistent copy of the whole database to `dest` (which must not
  // exist) with SQLite's online backup API, while writers may continue. The
  // copy uses a rollback journal, so it is one self-contained file.
  Status SnapshotTo(const std::filesystem::path& dest);

  const std::filesystem::path& path() const { return path_; }

 private:
  ControlDb(sqlite3* db, std::filesystem::path path) : db_(db), path_(std::move(path)) {}
  Status Exec(const char* sql);
  Status Error(const std::string& what) const;
  Status ExecBound(const char* sql, const std::vector<std::string>& text_args,
                   const std::vector<int64_t>& int_args);

  std::mutex mu_;
  sqlite3* db_;
  std::filesystem::path path_;
};

}  // namespace hoststub
