// SQLite implementation of the control DB.
#include "storage/control_db.h"

#include <sqlite3.h>

#include <chrono>

#include <fmt/format.h>

#include "util/sqlite_statement.h"
#include "util/utc_time.h"

namespace hoststub {
namespace {

constexpr int kSchemaVersion = 1;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS contexts (
  name        TEXT PRIMARY KEY,
  created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS applications (
  name        TEXT PRIMARY KEY,
  description TEXT NOT NULL DEFAULT '',
  created_ms  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
  name          TEXT PRIMARY KEY,
  password_hash TEXT NOT NULL,
  created_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS roles (
  principal TEXT NOT NULL,
  context   TEXT NOT NULL,
  role      TEXT NOT NULL,
  PRIMARY KEY (principal, context, role)
);
CREATE TABLE IF NOT EXISTS timeline (
  id       INTEGER PRIMARY KEY CHECK (id = 1),
  timeline INTEGER NOT NULL,
  history  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS replication_state (
  context      TEXT PRIMARY KEY REFERENCES contexts(name),
  term         INTEGER NOT NULL,
  commit_index INTEGER NOT NULL,
  updated_ms   INTEGER NOT NULL
);
)sql";

}  // namespace

Status ControlDb::Error(const std::string& what) const {
  return Status::IOError(
      fmt::format("control DB '{}': {}: {}", path_.string(), what, sqlite3_errmsg(db_)));
}

Result<std::unique_ptr<ControlDb>> ControlDb::Open(const std::filesystem::path& file,
                                                   bool read_only) {
  sqlite3* db = nullptr;
  int flags = SQLITE_OPEN_FULLMUTEX |
              (read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  int rc = sqlite3_open_v2(file.c_str(), &db, flags, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    auto text = fmt::format("cannot open control DB '{}': {}", file.string(), msg);
    return rc == SQLITE_CANTOPEN ? Status::NotFound(text) : Status::IOError(text);
  }
  std::unique_ptr<ControlDb> cdb(new ControlDb(db, file));
  sqlite3_busy_timeout(db, 5000);
  if (read_only) {
    HOSTSTUB_RETURN_IF_ERROR(cdb->Exec("SELECT count(*) FROM replication_state"));
    return cdb;
  }
  // WAL lets a backup read a consistent snapshot while the host writes;
  // synchronous=FULL makes a saved commit index survive power loss.
  HOSTSTUB_RETURN_IF_ERROR(cdb->Exec("PRAGMA journal_mode=WAL"));
  HOSTSTUB_RETURN_IF_ERROR(cdb->Exec("PRAGMA synchronous=FULL"));
  HOSTSTUB_RETURN_IF_ERROR(cdb->Exec("PRAGMA foreign_keys=ON"));
  HOSTSTUB_RETURN_IF_ERROR(cdb->Exec(kSchema));
  HOSTSTUB_RETURN_IF_ERROR(
      cdb->Exec(fmt::format("PRAGMA user_version={}", kSchemaVersion).c_str()));
  return cdb;
}

ControlDb::~ControlDb() { sqlite3_close(db_); }

Status ControlDb::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IOError(fmt::format("control DB '{}': {}", path_.string(), msg));
  }
  return Status::OK();
}

Status ControlDb::ExecBound(const char* sql, const std::vector<std::string>& text_args,
                            const std::vector<int64_t>& int_args) {
  SqliteStatement st;
  if (sqlite3_prepare_v2(db_, sql, -1, &st.stmt, nullptr) != SQLITE_OK) return Error("prepare");
  int i = 1;
  for (const auto& t : text_args) {
    sqlite3_bind_text(st.stmt, i++, t.c_str(), static_cast<int>(t.size()), SQLITE_TRANSIENT);
  }
  for (int64_t v : int_args) sqlite3_bind_int64(st.stmt, i++, v);
  if (sqlite3_step(st.stmt) != SQLITE_DONE) return Error("write");
  return Status::OK();
}

Status ControlDb::EnsureContext(const std::string& name) {
  std::lock_guard lock(mu_);
  HOSTSTUB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  int64_t now = NowMs();
  Status st =
      ExecBound("INSERT OR IGNORE INTO contexts(name, created_ms) VALUES (?, ?)", {name}, {now});
  if (st.ok()) {
    st = ExecBound(
        "INSERT OR IGNORE INTO replication_state(context, term, commit_index, updated_ms) "
        "VALUES (?, 0, 0, ?)",
        {name}, {now});
  }
  if (!st.ok()) {
    // The statement's failure is the one to report. After some failures
    // (SQLITE_FULL, SQLITE_IOERR) SQLite has rolled back already and this
    // ROLLBACK fails with "no transaction is active": nothing to add.
    (void)Exec("ROLLBACK");
    return st;
  }
  return Exec("COMMIT");
}

std::vector<std::string> ControlDb::ListContexts() {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  SqliteStatement st;
  if (sqlite3_prepare_v2(db_, "SELECT name FROM contexts ORDER BY name", -1, &st.stmt, nullptr) !=
      SQLITE_OK) {
    return out;
  }
  while (sqlite3_step(st.stmt) == SQLITE_ROW) {
    out.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, 0)));
  }
  return out;
}

Result<std::map<std::string, ReplicationState>> ControlDb::LoadReplicationStates() {
  std::lock_guard lock(mu_);
  SqliteStatement st;
  if (sqlite3_prepare_v2(db_, "SELECT context, term, commit_index FROM replication_state", -1,
                         &st.stmt, nullptr) != SQLITE_OK) {
    return Error("read replication state");
  }
  std::map<std::string, ReplicationState> out;
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    auto name = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, 0));
    out[name] = ReplicationState{static_cast<uint64_t>(sqlite3_column_int64(st.stmt, 1)),
                                 static_cast<uint64_t>(sqlite3_column_int64(st.stmt, 2))};
  }
  if (rc != SQLITE_DONE) return Error("read replication state");
  return out;
}

Status ControlDb::SaveTerm(const std::string& context, uint64_t term) {
  std::lock_guard lock(mu_);
  return ExecBound("UPDATE replication_state SET term = ?2, updated_ms = ?3 WHERE context = ?1",
                   {context}, {static_cast<int64_t>(term), NowMs()});
}

Status ControlDb::SaveCommitIndexes(const std::map<std::string, uint64_t>& commit_indexes) {
  if (commit_indexes.empty()) return Status::OK();
  std::lock_guard lock(mu_);
  HOSTSTUB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  int64_t now = NowMs();
  for (const auto& [context, index] : commit_indexes) {
    Status st = ExecBound(
        "UPDATE replication_state SET commit_index = ?2, updated_ms = ?3 WHERE context = ?1",
        {context}, {static_cast<int64_t>(index), now});
    if (!st.ok()) {
      (void)Exec("ROLLBACK");  // as in EnsureContext: the UPDATE's failure is the news
      return st;
    }
  }
  return Exec("COMMIT");
}

Result<ContextRows> ControlDb::ExportContext(const std::string& name) {
  std::lock_guard lock(mu_);
  ContextRows rows;
  {
    SqliteStatement st;
    if (sqlite3_prepare_v2(db_,
                           "SELECT c.created_ms, r.term, r.commit_index FROM contexts c "
                           "LEFT JOIN replication_state r ON r.context = c.name WHERE c.name = ?",
                           -1, &st.stmt, nullptr) != SQLITE_OK) {
      return Error("read context");
    }
    sqlite3_bind_text(st.stmt, 1, name.c_str(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(st.stmt);
    if (rc == SQLITE_DONE) {
      return Status::NotFound(
          fmt::format("control DB '{}' has no context '{}'", path_.string(), name));
    }
    if (rc != SQLITE_ROW) return Error("read context");
    rows.created_ms = sqlite3_column_int64(st.stmt, 0);
    rows.state.term = static_cast<uint64_t>(sqlite3_column_int64(st.stmt, 1));
    rows.state.commit_index = static_cast<uint64_t>(sqlite3_column_int64(st.stmt, 2));
  }
  SqliteStatement st;
  if (sqlite3_prepare_v2(db_,
                         "SELECT principal, role FROM roles WHERE context = ? ORDER BY principal, "
                         "role",
                         -1, &st.stmt, nullptr) != SQLITE_OK) {
    return Error("read roles");
  }
  sqlite3_bind_text(st.stmt, 1, name.c_str(), static_cast<int>(name.size()), SQLITE_TRANSIENT);
  int rc;
  while ((rc = sqlite3_step(st.stmt)) == SQLITE_ROW) {
    rows.roles.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, 0)),
                            reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, 1)));
  }
  if (rc != SQLITE_DONE) return Error("read roles");
  return rows;
}

Status ControlDb::ImportContext(const std::string& name, const ContextRows& rows) {
  std::lock_guard lock(mu_);
  HOSTSTUB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  const int64_t now = NowMs();
  // The replication state first: it references the context row.
  Status st = ExecBound("DELETE FROM replication_state WHERE context = ?", {name}, {});
  if (st.ok()) st = ExecBound("DELETE FROM roles WHERE context = ?", {name}, {});
  if (st.ok()) st = ExecBound("DELETE FROM contexts WHERE name = ?", {name}, {});
  if (st.ok()) {
    st = ExecBound("INSERT INTO contexts(name, created_ms) VALUES (?, ?)", {name},
                   {rows.created_ms});
  }
  if (st.ok()) {
    st = ExecBound(
        "INSERT INTO replication_state(context, term, commit_index, updated_ms) "
        "VALUES (?, ?, ?, ?)",
        {name},
        {static_cast<int64_t>(rows.state.term), static_cast<int64_t>(rows.state.commit_index),
         now});
  }
  for (const auto& [principal, role] : rows.roles) {
    if (!st.ok()) break;
    st = ExecBound("INSERT OR IGNORE INTO roles(principal, context, role) VALUES (?, ?, ?)",
                   {principal, name, role}, {});
  }
  if (!st.ok()) {
    (void)Exec("ROLLBACK");  // as in EnsureContext: the statement's failure is the news
    return st;
  }
  return Exec("COMMIT");
}

Status ControlDb::RemoveContext(const std::string& name) {
  std::lock_guard lock(mu_);
  HOSTSTUB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  Status st = ExecBound("DELETE FROM replication_state WHERE context = ?", {name}, {});
  if (st.ok()) st = ExecBound("DELETE FROM roles WHERE context = ?", {name}, {});
  if (st.ok()) st = ExecBound("DELETE FROM contexts WHERE name = ?", {name}, {});
  if (!st.ok()) {
    (void)Exec("ROLLBACK");
    return st;
  }
  return Exec("COMMIT");
}

Result<TimelineInfo> ControlDb::LoadTimeline() {
  std::lock_guard lock(mu_);
  TimelineInfo out;
  SqliteStatement st;
  // A database from before timelines (opened read-only, so never given the
  // table) is on the first.
  if (sqlite3_prepare_v2(db_, "SELECT timeline, history FROM timeline WHERE id = 1", -1, &st.stmt,
                         nullptr) != SQLITE_OK) {
    if (std::string(sqlite3_errmsg(db_)).find("no such table") != std::string::npos) return out;
    return Error("read timeline");
  }
  const int rc = sqlite3_step(st.stmt);
  if (rc == SQLITE_ROW) {
    out.timeline = static_cast<uint32_t>(sqlite3_column_int64(st.stmt, 0));
    out.history = reinterpret_cast<const char*>(sqlite3_column_text(st.stmt, 1));
  } else if (rc != SQLITE_DONE) {
    return Error("read timeline");
  }
  return out;
}

Status ControlDb::SaveTimeline(const TimelineInfo& timeline) {
  std::lock_guard lock(mu_);
  return ExecBound("INSERT OR REPLACE INTO timeline(id, history, timeline) VALUES (1, ?, ?)",
                   {timeline.history}, {static_cast<int64_t>(timeline.timeline)});
}

Status ControlDb::AddApplication(const std::string& name, const std::string& description) {
  std::lock_guard lock(mu_);
  return ExecBound("INSERT INTO applications(name, description, created_ms) VALUES (?, ?, ?)",
                   {name, description}, {NowMs()});
}

Status ControlDb::AddUser(const std::string& name, const std::string& password_hash) {
  std::lock_guard lock(mu_);
  return ExecBound("INSERT INTO users(name, password_hash, created_ms) VALUES (?, ?, ?)",
                   {name, password_hash}, {NowMs()});
}

Status ControlDb::GrantRole(const std::string& principal, const std::string& context,
                            const std::string& role) {
  std::lock_guard lock(mu_);
  return ExecBound("INSERT OR IGNORE INTO roles(principal, context, role) VALUES (?, ?, ?)",
                   {principal, context, role}, {});
}

}  // namespace hoststub

namespace hoststub {

Status ControlDb::SnapshotTo(const std::filesystem::path& dest) {
  sqlite3* out = nullptr;
  int rc =
      sqlite3_open_v2(dest.c_str(), &out,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_EXCLUSIVE, nullptr);
  auto fail = [&](const std::string& what) {
    std::string msg =
        fmt::format("cannot snapshot control DB '{}' to '{}': {}: {}", path_.string(),
                    dest.string(), what, out ? sqlite3_errmsg(out) : sqlite3_errstr(rc));
    sqlite3_close(out);
    return rc == SQLITE_FULL ? Status::NoSpace(msg) : Status::IOError(msg);
  };
  if (rc != SQLITE_OK) return fail("open");
  // The copy is scratch: the provider stores it durably, and a crash
  // leaves no backup that uses it. Syncing it here only delays the backup.
  rc = sqlite3_exec(out, "PRAGMA synchronous=OFF", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return fail("synchronous");
  {
    // One step of -1 pages copies everything under a single read
    // transaction: the copy is one consistent point in time.
    std::lock_guard lock(mu_);
    sqlite3_backup* backup = sqlite3_backup_init(out, "main", db_, "main");
    if (backup == nullptr) return fail("backup init");
    rc = sqlite3_backup_step(backup, -1);
    sqlite3_backup_finish(backup);
    if (rc != SQLITE_DONE) return fail("backup step");
  }
  char* err = nullptr;
  rc = sqlite3_exec(out, "PRAGMA journal_mode=DELETE", nullptr, nullptr, &err);
  sqlite3_free(err);
  if (rc != SQLITE_OK) return fail("journal mode");
  if (sqlite3_close(out) != SQLITE_OK) {
    out = nullptr;
    return fail("close");
  }
  return Status::OK();
}

}  // namespace hoststub
