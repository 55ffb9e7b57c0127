// OperationHistory: the host's persistent record of finished operations
// (backups, verifies, deletes, expires, restore drills, ...), so that
// `hostctl status` and GET /metrics still know the last result of each
// provider after hostd restarts.
//
// Where it lives: its own SQLite file, <data_dir>/operation-history.sqlite
// (WAL journal), not a table of the control DB. The control DB is part of
// every backup and is replaced by every restore: a history inside it would
// travel into the repository, and restoring an old backup would roll the
// record of what happened back to that day. The history describes this
// host, not the data, so it stays beside the data and out of the backups.
//
// Bounded: at most `max_records` rows (default 10 000, about 2 MiB); each
// Record deletes the oldest rows beyond that. The running totals per
// (provider, kind, result) are kept in a table of their own that is never
// pruned, so a counter derived from them never goes backwards.
//
// Errors: every method returns IOError naming the file when SQLite fails;
// nothing is retried. A caller that records an operation which already
// happened should log the failure and carry on: losing a history row must
// not fail the operation it describes.
//
// Thread-safety: every method may be called from any thread (one
// connection, serialised by an internal mutex).
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/status.h"

struct sqlite3;

namespace hoststub {

// The history's file inside a data directory.
std::filesystem::path OperationHistoryFile(const std::filesystem::path& data_dir);

// One finished operation.
struct OperationRecord {
  int64_t id = 0;  // assigned by Record (1, 2, ... per history file)
  // What ran: "backup", "verify", "delete", "expire", "drill" (a restore
  // drill), or any other short word a caller introduces.
  std::string kind;
  std::string provider;     // the provider's config name
  int64_t started_ms = 0;   // UTC, ms since the epoch
  int64_t finished_ms = 0;  // UTC, ms since the epoch
  // "succeeded", "failed" or "cancelled".
  std::string result;
  // What the operation touched, when it says (0 otherwise): for a backup the
  // bytes read from the host and newly stored; for a drill the bytes restored
  // (bytes_read).
  uint64_t bytes_read = 0;
  uint64_t bytes_stored = 0;
  std::string backup_id;  // the new backup, or the one operated on; may be empty
  std::string error;      // why it failed or was cancelled; empty on success

  bool succeeded() const { return result == "succeeded"; }
  int64_t duration_ms() const { return finished_ms - started_ms; }
};

// How often (provider, kind) ended with `result` since the history file was
// created (never pruned).
struct OperationTotal {
  std::string provider;
  std::string kind;
  std::string result;
  uint64_t count = 0;
};

class OperationHistory {
 public:
  static constexpr size_t kDefaultMaxRecords = 10'000;

  // Opens or creates the history file and its schema. IOError naming the
  // file when it cannot be opened or is not a history.
  static Result<std::unique_ptr<OperationHistory>> Open(const std::filesystem::path& file,
                                                        size_t max_records = kDefaultMaxRecords);
  ~OperationHistory();
  OperationHistory(const OperationHistory&) = delete;
  OperationHistory& operator=(const OperationHistory&) = delete;

  // Appends `record` (its id is ignored and assigned), counts it in the
  // totals and prunes the oldest rows beyond max_records, in one
  // transaction. Returns the id. InvalidArgument when kind, provider or
  // result is empty.
  Result<int64_t> Record(const OperationRecord& record);

  // The newest record of `provider` (of that `kind` when not empty), or
  // nullopt when there is none.
  Result<std::optional<OperationRecord>> Last(std::string_view provider,
                                              std::string_view kind = {});
  // The newest record of each (provider, kind) pair, ordered by provider
  // then kind: what status and the metrics show.
  Result<std::vector<OperationRecord>> LastOfEach();
  // The newest successful record of each (provider, kind) pair.
  Result<std::vector<OperationRecord>> LastSuccessOfEach();
  // Records that finished at or after `since_ms`, oldest first, at most
  // `limit` (the newest ones when there are more).
  Result<std::vector<OperationRecord>> Since(int64_t since_ms, size_t limit = 1000);
  // Every (provider, kind, result) count.
  Result<std::vector<OperationTotal>> Totals();

  const std::filesystem::path& path() const { return path_; }

 private:
  OperationHistory(sqlite3* db, std::filesystem::path path, size_t max_records)
      : db_(db), path_(std::move(path)), max_records_(max_records) {}
  Status Error(std::string_view what) const;
  Status Exec(const char* sql);
  // Runs a SELECT of the record columns with text and integer arguments.
  Result<std::vector<OperationRecord>> Query(const char* sql,
                                             const std::vector<std::string>& text_args,
                                             const std::vector<int64_t>& int_args);

  std::mutex mu_;
  sqlite3* db_;
  std::filesystem::path path_;
  size_t max_records_;
};

}  // namespace hoststub
