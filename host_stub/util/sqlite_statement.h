// A prepared SQLite statement that is finalised on every path out of the
// scope that prepared it: the control DB and the operation history share it.
//
// Ownership: owns `stmt` (null until sqlite3_prepare_v2 fills it; finalising
// null is a no-op). Not copyable. Thread-safety: as the sqlite3* it came from.
#pragma once

#include <sqlite3.h>

namespace hoststub {

struct SqliteStatement {
  sqlite3_stmt* stmt = nullptr;

  SqliteStatement() = default;
  SqliteStatement(const SqliteStatement&) = delete;
  SqliteStatement& operator=(const SqliteStatement&) = delete;
  ~SqliteStatement() { sqlite3_finalize(stmt); }
};

}  // namespace hoststub
