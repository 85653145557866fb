#include "coordinator/placement_store.h"

#include <map>

#include "absl/strings/str_cat.h"

namespace ofa::coordinator {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS workers (
  id TEXT PRIMARY KEY,
  hostname TEXT NOT NULL,
  info BLOB NOT NULL,
  draining INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attempts (
  job_id TEXT PRIMARY KEY,
  phase_index INTEGER NOT NULL,
  number INTEGER NOT NULL,
  failure TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
  id TEXT PRIMARY KEY,
  job_id TEXT NOT NULL REFERENCES attempts (job_id),
  rank INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  device INTEGER NOT NULL,
  state INTEGER NOT NULL,
  acknowledged INTEGER NOT NULL,
  cancel INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  assignment BLOB NOT NULL,
  result BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS tasks_by_job ON tasks (job_id, rank);
)sql";

template <typename Message>
absl::Status Parse(const SqliteDb::Value& bytes, const std::string& what, Message* message) {
  if (!message->ParseFromString(AsText(bytes))) {
    return absl::DataLossError(absl::StrCat("the stored ", what, " is corrupt"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<PlacementStore>> PlacementStore::Open(SqliteDb* db) {
  if (absl::Status s = db->Exec(kSchema); !s.ok()) return s;
  return std::unique_ptr<PlacementStore>(new PlacementStore(db));
}

absl::Status PlacementStore::SaveWorker(const WorkerRecord& worker) {
  return db_
      ->Query("INSERT OR REPLACE INTO workers (id, hostname, info, draining) VALUES (?, ?, ?, ?)",
              {worker.id, worker.info.hostname(), SqliteDb::Blob{worker.info.SerializeAsString()},
               int64_t{worker.draining}})
      .status();
}

absl::Status PlacementStore::DeleteWorkersOn(const std::string& hostname) {
  return db_->Query("DELETE FROM workers WHERE hostname = ?", {hostname}).status();
}

absl::Status PlacementStore::DeleteWorker(const std::string& id) {
  return db_->Query("DELETE FROM workers WHERE id = ?", {id}).status();
}

absl::StatusOr<std::vector<PlacementStore::WorkerRecord>> PlacementStore::Workers() {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows =
      db_->Query("SELECT id, info, draining FROM workers ORDER BY id");
  if (!rows.ok()) return rows.status();
  std::vector<WorkerRecord> workers;
  for (const SqliteDb::Row& row : *rows) {
    WorkerRecord& w = workers.emplace_back();
    w.id = AsText(row[0]);
    if (absl::Status s = Parse(row[1], "registration of worker " + w.id, &w.info); !s.ok()) {
      return s;
    }
    w.draining = AsInt(row[2]) != 0;
  }
  return workers;
}

absl::Status PlacementStore::SaveAttempt(const AttemptRecord& attempt) {
  return db_->Transaction([&]() -> absl::Status {
    if (absl::Status s = DeleteAttempt(attempt.job_id); !s.ok()) return s;
    absl::Status s =
        db_->Query(
               "INSERT INTO attempts (job_id, phase_index, number, failure) VALUES (?, ?, ?, ?)",
               {attempt.job_id, int64_t{attempt.phase_index}, int64_t{attempt.number},
                attempt.failure})
            .status();
    if (!s.ok()) return s;
    for (size_t rank = 0; rank < attempt.tasks.size(); ++rank) {
      const TaskRecord& t = attempt.tasks[rank];
      s = db_->Query(
                 "INSERT INTO tasks (id, job_id, rank, worker_id, device, state, acknowledged, "
                 "cancel, start_ns, assignment, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 {t.id, attempt.job_id, static_cast<int64_t>(rank), t.worker_id, int64_t{t.device},
                  int64_t{t.state}, int64_t{t.acknowledged}, int64_t{t.cancel},
                  absl::ToUnixNanos(t.start), SqliteDb::Blob{t.assignment.SerializeAsString()},
                  SqliteDb::Blob{t.result.SerializeAsString()}})
              .status();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::Status PlacementStore::DeleteAttempt(const std::string& job_id) {
  if (absl::Status s = db_->Query("DELETE FROM tasks WHERE job_id = ?", {job_id}).status();
      !s.ok()) {
    return s;
  }
  return db_->Query("DELETE FROM attempts WHERE job_id = ?", {job_id}).status();
}

absl::StatusOr<std::vector<PlacementStore::AttemptRecord>> PlacementStore::Attempts() {
  absl::StatusOr<std::vector<SqliteDb::Row>> attempts =
      db_->Query("SELECT job_id, phase_index, number, failure FROM attempts ORDER BY job_id");
  if (!attempts.ok()) return attempts.status();
  std::vector<AttemptRecord> out;
  std::map<std::string, size_t> index;
  for (const SqliteDb::Row& row : *attempts) {
    AttemptRecord& a = out.emplace_back();
    a.job_id = AsText(row[0]);
    a.phase_index = static_cast<int>(AsInt(row[1]));
    a.number = static_cast<int>(AsInt(row[2]));
    a.failure = AsText(row[3]);
    index[a.job_id] = out.size() - 1;
  }
  absl::StatusOr<std::vector<SqliteDb::Row>> tasks = db_->Query(
      "SELECT job_id, id, worker_id, device, state, acknowledged, cancel, start_ns, assignment, "
      "result FROM tasks ORDER BY job_id, rank");
  if (!tasks.ok()) return tasks.status();
  for (const SqliteDb::Row& row : *tasks) {
    auto it = index.find(AsText(row[0]));
    if (it == index.end()) continue;
    TaskRecord& t = out[it->second].tasks.emplace_back();
    t.id = AsText(row[1]);
    t.worker_id = AsText(row[2]);
    t.device = static_cast<int>(AsInt(row[3]));
    t.state = static_cast<ofa::v1::TaskState>(AsInt(row[4]));
    t.acknowledged = AsInt(row[5]) != 0;
    t.cancel = AsInt(row[6]) != 0;
    t.start = absl::FromUnixNanos(AsInt(row[7]));
    if (absl::Status s = Parse(row[8], "assignment of task " + t.id, &t.assignment); !s.ok()) {
      return s;
    }
    if (absl::Status s = Parse(row[9], "result of task " + t.id, &t.result); !s.ok()) return s;
  }
  return out;
}

}  // namespace ofa::coordinator
