// SQLite implementation of the operation history. One connection, guarded by
// mu_; every write is one transaction, so a crash leaves a record whole or
// absent.
#include "ops/operation_history.h"

#include <sqlite3.h>

#include <fmt/format.h>

#include "util/sqlite_statement.h"

namespace hoststub {
namespace {

constexpr const char* kHistorySchema = R"sql(
CREATE TABLE IF NOT EXISTS operations (
  id           INTEGER PRIMARY KEY AUTOINCREMENT,
  kind         TEXT NOT NULL,
  provider     TEXT NOT NULL,
  started_ms   INTEGER NOT NULL,
  finished_ms  INTEGER NOT NULL,
  result       TEXT NOT NULL,
  bytes_read   INTEGER NOT NULL,
  bytes_stored INTEGER NOT NULL,
  backup_id    TEXT NOT NULL,
  error        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_by_provider ON operations (provider, kind, id);
CREATE INDEX IF NOT EXISTS operations_by_finish ON operations (finished_ms);
CREATE TABLE IF NOT EXISTS operation_totals (
  provider TEXT NOT NULL,
  kind     TEXT NOT NULL,
  result   TEXT NOT NULL,
  count    INTEGER NOT NULL,
  PRIMARY KEY (provider, kind, result)
);
)sql";

constexpr const char* kColumns =
    "id, kind, provider, started_ms, finished_ms, result, bytes_read, bytes_stored, backup_id, "
    "error";

std::string TextColumn(sqlite3_stmt* stmt, int column) {
  const unsigned char* text = sqlite3_column_text(stmt, column);
  return text ? reinterpret_cast<const char*>(text) : std::string();
}

}  // namespace

std::filesystem::path OperationHistoryFile(const std::filesystem::path& data_dir) {
  return data_dir / "operation-history.sqlite";
}

Status OperationHistory::Error(std::string_view what) const {
  return Status::IOError(
      fmt::format("operation history '{}': {}: {}", path_.string(), what, sqlite3_errmsg(db_)));
}

Result<std::unique_ptr<OperationHistory>> OperationHistory::Open(const std::filesystem::path& file,
                                                                 size_t max_records) {
  sqlite3* db = nullptr;
  const int rc =
      sqlite3_open_v2(file.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return Status::IOError(
        fmt::format("cannot open the operation history '{}': {}", file.string(), msg));
  }
  std::unique_ptr<OperationHistory> history(
      new OperationHistory(db, file, max_records == 0 ? 1 : max_records));
  sqlite3_busy_timeout(db, 5000);
  HOSTSTUB_RETURN_IF_ERROR(history->Exec("PRAGMA journal_mode=WAL"));
  // A record lost to a power cut is a small loss; a full fsync per
  // operation is not worth it, and WAL keeps the file consistent.
  HOSTSTUB_RETURN_IF_ERROR(history->Exec("PRAGMA synchronous=NORMAL"));
  HOSTSTUB_RETURN_IF_ERROR(history->Exec(kHistorySchema));
  return history;
}

OperationHistory::~OperationHistory() { sqlite3_close(db_); }

Status OperationHistory::Exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::IOError(fmt::format("operation history '{}': {}", path_.string(), msg));
  }
  return Status::OK();
}

Result<int64_t> OperationHistory::Record(const OperationRecord& record) {
  if (record.kind.empty() || record.provider.empty() || record.result.empty()) {
    return Status::InvalidArgument(fmt::format(
        "operation history: a record needs a kind, a provider and a result (got kind '{}', "
        "provider '{}', result '{}')",
        record.kind, record.provider, record.result));
  }
  std::lock_guard<std::mutex> lock(mu_);
  HOSTSTUB_RETURN_IF_ERROR(Exec("BEGIN IMMEDIATE"));
  auto fail = [this](std::string_view what) {
    Status status = Error(what);
    static_cast<void>(Exec("ROLLBACK"));
    return status;
  };
  int64_t id = 0;
  {
    SqliteStatement insert;
    if (sqlite3_prepare_v2(db_,
                           "INSERT INTO operations (kind, provider, started_ms, finished_ms, "
                           "result, bytes_read, bytes_stored, backup_id, error) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           -1, &insert.stmt, nullptr) != SQLITE_OK) {
      return fail("prepare insert");
    }
    sqlite3_bind_text(insert.stmt, 1, record.kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.stmt, 2, record.provider.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert.stmt, 3, record.started_ms);
    sqlite3_bind_int64(insert.stmt, 4, record.finished_ms);
    sqlite3_bind_text(insert.stmt, 5, record.result.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(insert.stmt, 6, static_cast<int64_t>(record.bytes_read));
    sqlite3_bind_int64(insert.stmt, 7, static_cast<int64_t>(record.bytes_stored));
    sqlite3_bind_text(insert.stmt, 8, record.backup_id.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(insert.stmt, 9, record.error.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(insert.stmt) != SQLITE_DONE) return fail("insert");
    id = sqlite3_last_insert_rowid(db_);
  }
  {
    SqliteStatement count;
    if (sqlite3_prepare_v2(db_,
                           "INSERT INTO operation_totals (provider, kind, result, count) "
                           "VALUES (?, ?, ?, 1) ON CONFLICT (provider, kind, result) "
                           "DO UPDATE SET count = count + 1",
                           -1, &count.stmt, nullptr) != SQLITE_OK) {
      return fail("prepare totals");
    }
    sqlite3_bind_text(count.stmt, 1, record.provider.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(count.stmt, 2, record.kind.c_str(), -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(count.stmt, 3, record.result.c_str(), -1, SQLITE_TRANSIENT);
    if (sqlite3_step(count.stmt) != SQLITE_DONE) return fail("count");
  }
  {
    SqliteStatement prune;
    if (sqlite3_prepare_v2(db_, "DELETE FROM operations WHERE id <= ?", -1, &prune.stmt, nullptr) !=
        SQLITE_OK) {
      return fail("prepare prune");
    }
    sqlite3_bind_int64(prune.stmt, 1, id - static_cast<int64_t>(max_records_));
    if (sqlite3_step(prune.stmt) != SQLITE_DONE) return fail("prune");
  }
  if (Status committed = Exec("COMMIT"); !committed.ok()) {
    static_cast<void>(Exec("ROLLBACK"));
    return committed;
  }
  return id;
}

Result<std::vector<OperationRecord>> OperationHistory::Query(
    const char* sql, const std::vector<std::string>& text_args,
    const std::vector<int64_t>& int_args) {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStatement query;
  if (sqlite3_prepare_v2(db_, sql, -1, &query.stmt, nullptr) != SQLITE_OK) {
    return Error("prepare query");
  }
  int index = 1;
  for (const std::string& text : text_args) {
    sqlite3_bind_text(query.stmt, index++, text.c_str(), -1, SQLITE_TRANSIENT);
  }
  for (int64_t value : int_args) sqlite3_bind_int64(query.stmt, index++, value);
  std::vector<OperationRecord> records;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(query.stmt)) == SQLITE_ROW) {
    OperationRecord r;
    r.id = sqlite3_column_int64(query.stmt, 0);
    r.kind = TextColumn(query.stmt, 1);
    r.provider = TextColumn(query.stmt, 2);
    r.started_ms = sqlite3_column_int64(query.stmt, 3);
    r.finished_ms = sqlite3_column_int64(query.stmt, 4);
    r.result = TextColumn(query.stmt, 5);
    r.bytes_read = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 6));
    r.bytes_stored = static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 7));
    r.backup_id = TextColumn(query.stmt, 8);
    r.error = TextColumn(query.stmt, 9);
    records.push_back(std::move(r));
  }
  if (rc != SQLITE_DONE) return Error("query");
  return records;
}

Result<std::optional<OperationRecord>> OperationHistory::Last(std::string_view provider,
                                                              std::string_view kind) {
  const std::string sql = fmt::format(
      "SELECT {} FROM operations WHERE provider = ? AND (? = '' OR kind = ?) ORDER BY id DESC "
      "LIMIT 1",
      kColumns);
  const std::string k(kind);
  HOSTSTUB_ASSIGN_OR_RETURN(auto rows, Query(sql.c_str(), {std::string(provider), k, k}, {}));
  if (rows.empty()) return std::optional<OperationRecord>();
  return std::optional<OperationRecord>(std::move(rows.front()));
}

Result<std::vector<OperationRecord>> OperationHistory::LastOfEach() {
  const std::string sql = fmt::format(
      "SELECT {} FROM operations WHERE id IN (SELECT MAX(id) FROM operations GROUP BY provider, "
      "kind) ORDER BY provider, kind",
      kColumns);
  return Query(sql.c_str(), {}, {});
}

Result<std::vector<OperationRecord>> OperationHistory::LastSuccessOfEach() {
  const std::string sql = fmt::format(
      "SELECT {} FROM operations WHERE id IN (SELECT MAX(id) FROM operations WHERE result = "
      "'succeeded' GROUP BY provider, kind) ORDER BY provider, kind",
      kColumns);
  return Query(sql.c_str(), {}, {});
}

Result<std::vector<OperationRecord>> OperationHistory::Since(int64_t since_ms, size_t limit) {
  const std::string sql = fmt::format(
      "SELECT * FROM (SELECT {} FROM operations WHERE finished_ms >= ? ORDER BY id DESC LIMIT ?) "
      "ORDER BY id",
      kColumns);
  return Query(sql.c_str(), {}, {since_ms, static_cast<int64_t>(limit)});
}

Result<std::vector<OperationTotal>> OperationHistory::Totals() {
  std::lock_guard<std::mutex> lock(mu_);
  SqliteStatement query;
  if (sqlite3_prepare_v2(db_,
                         "SELECT provider, kind, result, count FROM operation_totals ORDER BY "
                         "provider, kind, result",
                         -1, &query.stmt, nullptr) != SQLITE_OK) {
    return Error("prepare totals query");
  }
  std::vector<OperationTotal> totals;
  int rc = SQLITE_ROW;
  while ((rc = sqlite3_step(query.stmt)) == SQLITE_ROW) {
    totals.push_back({TextColumn(query.stmt, 0), TextColumn(query.stmt, 1),
                      TextColumn(query.stmt, 2),
                      static_cast<uint64_t>(sqlite3_column_int64(query.stmt, 3))});
  }
  if (rc != SQLITE_DONE) return Error("totals query");
  return totals;
}

}  // namespace hoststub
