#include "coordinator/sqlite_db.h"

#include <sqlite3.h>

#include "absl/strings/str_cat.h"

namespace ofa::coordinator {
namespace {

// Statements are finalised on every path.
struct StatementDeleter {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Statement = std::unique_ptr<sqlite3_stmt, StatementDeleter>;

}  // namespace

absl::StatusOr<std::unique_ptr<SqliteDb>> SqliteDb::Open(const std::string& path) {
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &db,
                                 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                                 nullptr);
  if (rc != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close(db);
    return absl::UnavailableError(absl::StrCat("cannot open database ", path, ": ", message));
  }
  std::unique_ptr<SqliteDb> result(new SqliteDb(path, db));
  sqlite3_busy_timeout(db, 5000);
  // WAL: readers never block the writer; synchronous=FULL: a commit is on disk when it returns.
  // The first statement also reads the header, so a file that is not a database fails here.
  if (absl::Status s = result->Exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
                                    "PRAGMA foreign_keys=ON;");
      !s.ok()) {
    return s;
  }
  return result;
}

SqliteDb::~SqliteDb() { sqlite3_close(db_); }

absl::Status SqliteDb::Error(const std::string& what) const {
  const int code = sqlite3_errcode(db_);
  const std::string message = absl::StrCat(path_, ": ", what, ": ", sqlite3_errmsg(db_));
  if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT) return absl::DataLossError(message);
  if (code == SQLITE_FULL || code == SQLITE_IOERR) return absl::ResourceExhaustedError(message);
  if (code == SQLITE_BUSY || code == SQLITE_LOCKED) return absl::UnavailableError(message);
  if (code == SQLITE_CONSTRAINT) return absl::AlreadyExistsError(message);
  return absl::InternalError(message);
}

absl::Status SqliteDb::Exec(const std::string& sql) {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    sqlite3_free(error);
    return Error(absl::StrCat("\"", sql.substr(0, 80), "\""));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<SqliteDb::Row>> SqliteDb::Query(const std::string& sql,
                                                           const std::vector<Value>& params) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK) {
    return Error(absl::StrCat("preparing \"", sql.substr(0, 80), "\""));
  }
  Statement statement(raw);
  for (size_t i = 0; i < params.size(); ++i) {
    const int index = static_cast<int>(i) + 1;
    const Value& v = params[i];
    int rc = SQLITE_OK;
    if (std::holds_alternative<int64_t>(v)) {
      rc = sqlite3_bind_int64(raw, index, std::get<int64_t>(v));
    } else if (std::holds_alternative<double>(v)) {
      rc = sqlite3_bind_double(raw, index, std::get<double>(v));
    } else if (std::holds_alternative<std::string>(v)) {
      const std::string& text = std::get<std::string>(v);
      rc = sqlite3_bind_text(raw, index, text.data(), static_cast<int>(text.size()),
                             SQLITE_TRANSIENT);
    } else if (std::holds_alternative<Blob>(v)) {
      const std::string& bytes = std::get<Blob>(v).bytes;
      rc = sqlite3_bind_blob(raw, index, bytes.data(), static_cast<int>(bytes.size()),
                             SQLITE_TRANSIENT);
    } else {
      rc = sqlite3_bind_null(raw, index);
    }
    if (rc != SQLITE_OK) return Error(absl::StrCat("binding parameter ", index));
  }
  std::vector<Row> rows;
  while (true) {
    const int rc = sqlite3_step(raw);
    if (rc == SQLITE_DONE) break;
    if (rc != SQLITE_ROW) return Error(absl::StrCat("running \"", sql.substr(0, 80), "\""));
    Row row;
    for (int c = 0; c < sqlite3_column_count(raw); ++c) {
      switch (sqlite3_column_type(raw, c)) {
        case SQLITE_INTEGER:
          row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(raw, c)));
          break;
        case SQLITE_FLOAT:
          row.emplace_back(sqlite3_column_double(raw, c));
          break;
        case SQLITE_TEXT:
          row.emplace_back(std::string(reinterpret_cast<const char*>(sqlite3_column_text(raw, c)),
                                       sqlite3_column_bytes(raw, c)));
          break;
        case SQLITE_BLOB: {
          const char* data = static_cast<const char*>(sqlite3_column_blob(raw, c));
          row.emplace_back(Blob{std::string(data, data + sqlite3_column_bytes(raw, c))});
          break;
        }
        default:
          row.emplace_back(std::monostate{});
      }
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

absl::Status SqliteDb::Transaction(const std::function<absl::Status()>& body) {
  if (absl::Status s = Exec("BEGIN IMMEDIATE"); !s.ok()) return s;
  absl::Status status = body();
  if (status.ok()) status = Exec("COMMIT");
  if (!status.ok()) Exec("ROLLBACK").IgnoreError();
  return status;
}

int64_t AsInt(const SqliteDb::Value& v) {
  if (std::holds_alternative<int64_t>(v)) return std::get<int64_t>(v);
  if (std::holds_alternative<double>(v)) return static_cast<int64_t>(std::get<double>(v));
  return 0;
}

double AsDouble(const SqliteDb::Value& v) {
  if (std::holds_alternative<double>(v)) return std::get<double>(v);
  if (std::holds_alternative<int64_t>(v)) return static_cast<double>(std::get<int64_t>(v));
  return 0;
}

std::string AsText(const SqliteDb::Value& v) {
  if (std::holds_alternative<std::string>(v)) return std::get<std::string>(v);
  if (std::holds_alternative<SqliteDb::Blob>(v)) return std::get<SqliteDb::Blob>(v).bytes;
  return "";
}

}  // namespace ofa::coordinator
