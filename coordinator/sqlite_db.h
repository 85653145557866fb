#ifndef OFA_COORDINATOR_SQLITE_DB_H_
#define OFA_COORDINATOR_SQLITE_DB_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct sqlite3;

namespace ofa::coordinator {

// One SQLite database file in WAL mode with full synchronisation: a committed transaction
// survives kill -9 of the process and a power cut. Errors name the file and the statement.
// Not thread-safe; the coordinator serialises access.
class SqliteDb {
 public:
  // A bound parameter or a column value: NULL, integer, real, text or blob.
  struct Blob {
    std::string bytes;
  };
  using Value = std::variant<std::monostate, int64_t, double, std::string, Blob>;
  using Row = std::vector<Value>;

  // Opens (creating if needed) `path`; fails with a clear error if it is not a database.
  static absl::StatusOr<std::unique_ptr<SqliteDb>> Open(const std::string& path);
  ~SqliteDb();
  SqliteDb(const SqliteDb&) = delete;
  SqliteDb& operator=(const SqliteDb&) = delete;

  // Runs one or more statements without parameters (schema, pragmas).
  absl::Status Exec(const std::string& sql);
  // Runs one statement with `?` parameters; returns its rows.
  absl::StatusOr<std::vector<Row>> Query(const std::string& sql,
                                         const std::vector<Value>& params = {});
  // Runs `body` in one IMMEDIATE transaction: committed if it returns OK, rolled back otherwise.
  absl::Status Transaction(const std::function<absl::Status()>& body);

  const std::string& path() const { return path_; }

 private:
  SqliteDb(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}
  absl::Status Error(const std::string& what) const;

  std::string path_;
  sqlite3* db_;
};

// Accessors that tolerate NULL (0 / empty).
int64_t AsInt(const SqliteDb::Value& v);
std::string AsText(const SqliteDb::Value& v);  // Text or blob bytes.
double AsDouble(const SqliteDb::Value& v);     // Real or integer.

}  // namespace ofa::coordinator

#endif  // OFA_COORDINATOR_SQLITE_DB_H_
