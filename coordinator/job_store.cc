#include "coordinator/job_store.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ofa::coordinator {
namespace {

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS jobs (
  seq INTEGER PRIMARY KEY,
  id TEXT UNIQUE NOT NULL,
  owner TEXT NOT NULL,
  priority INTEGER NOT NULL,
  state INTEGER NOT NULL,
  job BLOB NOT NULL,
  request_id TEXT
);
CREATE INDEX IF NOT EXISTS jobs_in_schedule_order ON jobs (state, priority DESC, seq);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_by_request ON jobs (owner, request_id);
CREATE TABLE IF NOT EXISTS job_events (
  job_id TEXT NOT NULL REFERENCES jobs (id),
  sequence INTEGER NOT NULL,
  event BLOB NOT NULL,
  PRIMARY KEY (job_id, sequence)
);
)sql";

absl::StatusOr<ofa::v1::Job> ParseJob(const std::string& id, const std::string& bytes) {
  ofa::v1::Job job;
  if (!job.ParseFromString(bytes)) {
    return absl::DataLossError(absl::StrCat("the stored record of job ", id, " is corrupt"));
  }
  return job;
}

}  // namespace

bool IsTerminal(ofa::v1::JobState state) {
  return state == ofa::v1::JOB_STATE_SUCCEEDED || state == ofa::v1::JOB_STATE_FAILED ||
         state == ofa::v1::JOB_STATE_CANCELLED;
}

void SetTimestamp(google::protobuf::Timestamp* timestamp, absl::Time time) {
  const int64_t nanos = absl::ToUnixNanos(time);
  timestamp->set_seconds(nanos / 1000000000);
  timestamp->set_nanos(static_cast<int32_t>(nanos % 1000000000));
}

absl::Time TimeOf(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

absl::Duration DurationOf(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

absl::StatusOr<std::unique_ptr<JobStore>> JobStore::Open(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create state directory ", state_dir, ": ", ec.message()));
  }
  absl::StatusOr<std::unique_ptr<SqliteDb>> db =
      SqliteDb::Open((std::filesystem::path(state_dir) / "coordinator.db").string());
  if (!db.ok()) return db.status();
  if (absl::Status s = (*db)->Exec(kSchema); !s.ok()) return s;
  return std::unique_ptr<JobStore>(new JobStore(*std::move(db)));
}

absl::StatusOr<ofa::v1::Job> JobStore::Load(const std::string& id) {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows =
      db_->Query("SELECT job FROM jobs WHERE id = ?", {id});
  if (!rows.ok()) return rows.status();
  if (rows->empty()) return absl::NotFoundError(absl::StrCat("no job \"", id, "\""));
  return ParseJob(id, AsText((*rows)[0][0]));
}

absl::Status JobStore::Save(const ofa::v1::Job& job) {
  absl::StatusOr<std::vector<SqliteDb::Row>> done =
      db_->Query("UPDATE jobs SET state = ?, priority = ?, job = ? WHERE id = ?",
                 {int64_t{job.state()}, int64_t{job.spec().priority()},
                  SqliteDb::Blob{job.SerializeAsString()}, job.id()});
  return done.status();
}

absl::Status JobStore::Append(const std::string& id, absl::Time now,
                              std::vector<ofa::v1::JobEvent>& events) {
  if (events.empty()) return absl::OkStatus();
  absl::StatusOr<std::vector<SqliteDb::Row>> last =
      db_->Query("SELECT COALESCE(MAX(sequence), 0) FROM job_events WHERE job_id = ?", {id});
  if (!last.ok()) return last.status();
  int64_t sequence = AsInt((*last)[0][0]);
  for (ofa::v1::JobEvent& event : events) {
    event.set_job_id(id);
    event.set_sequence(++sequence);
    if (!event.has_time()) SetTimestamp(event.mutable_time(), now);
    absl::StatusOr<std::vector<SqliteDb::Row>> inserted =
        db_->Query("INSERT INTO job_events (job_id, sequence, event) VALUES (?, ?, ?)",
                   {id, sequence, SqliteDb::Blob{event.SerializeAsString()}});
    if (!inserted.ok()) return inserted.status();
  }
  return absl::OkStatus();
}

absl::StatusOr<ofa::v1::Job> JobStore::Create(const ofa::v1::JobSpec& spec,
                                              const std::vector<ofa::v1::PhaseSpec>& phases,
                                              const std::string& owner, absl::Time now,
                                              const std::string& request_id) {
  ofa::v1::Job job;
  absl::Status status = db_->Transaction([&]() -> absl::Status {
    if (!request_id.empty()) {
      absl::StatusOr<std::vector<SqliteDb::Row>> earlier = db_->Query(
          "SELECT id, job FROM jobs WHERE owner = ? AND request_id = ?", {owner, request_id});
      if (!earlier.ok()) return earlier.status();
      if (!earlier->empty()) {
        absl::StatusOr<ofa::v1::Job> found =
            ParseJob(AsText((*earlier)[0][0]), AsText((*earlier)[0][1]));
        if (!found.ok()) return found.status();
        job = *std::move(found);
        return absl::OkStatus();
      }
    }
    absl::StatusOr<std::vector<SqliteDb::Row>> next =
        db_->Query("SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs");
    if (!next.ok()) return next.status();
    const int64_t seq = AsInt((*next)[0][0]);
    job.set_id(absl::StrFormat("job-%06d", seq));
    *job.mutable_spec() = spec;
    job.set_owner(owner);
    job.set_state(ofa::v1::JOB_STATE_QUEUED);
    SetTimestamp(job.mutable_create_time(), now);
    for (const ofa::v1::PhaseSpec& phase : phases) {
      ofa::v1::PhaseStatus* status = job.add_phases();
      *status->mutable_spec() = phase;
      status->set_state(ofa::v1::PHASE_STATE_PENDING);
    }
    absl::StatusOr<std::vector<SqliteDb::Row>> inserted = db_->Query(
        "INSERT INTO jobs (seq, id, owner, priority, state, job, request_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        {seq, job.id(), owner, int64_t{spec.priority()}, int64_t{job.state()},
         SqliteDb::Blob{job.SerializeAsString()},
         request_id.empty() ? SqliteDb::Value{} : SqliteDb::Value{request_id}});
    if (!inserted.ok()) return inserted.status();
    std::vector<ofa::v1::JobEvent> events(1);
    events[0].mutable_state_changed()->set_state(ofa::v1::JOB_STATE_QUEUED);
    events[0].mutable_state_changed()->set_reason("submitted");
    return Append(job.id(), now, events);
  });
  if (!status.ok()) return status;
  return job;
}

absl::StatusOr<std::map<ofa::v1::JobState, int>> JobStore::CountByState() {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows =
      db_->Query("SELECT state, COUNT(*) FROM jobs GROUP BY state");
  if (!rows.ok()) return rows.status();
  std::map<ofa::v1::JobState, int> counts;
  for (const SqliteDb::Row& row : *rows) {
    counts[static_cast<ofa::v1::JobState>(AsInt(row[0]))] = static_cast<int>(AsInt(row[1]));
  }
  return counts;
}

absl::StatusOr<ofa::v1::Job> JobStore::Get(const std::string& id) { return Load(id); }

absl::StatusOr<ofa::v1::Job> JobStore::Update(const std::string& id, absl::Time now,
                                              const Mutation& mutate) {
  ofa::v1::Job job;
  absl::Status status = db_->Transaction([&]() -> absl::Status {
    absl::StatusOr<ofa::v1::Job> loaded = Load(id);
    if (!loaded.ok()) return loaded.status();
    job = *std::move(loaded);
    std::vector<ofa::v1::JobEvent> events;
    if (absl::Status s = mutate(job, events); !s.ok()) return s;
    if (job.id() != id) {
      return absl::InvalidArgumentError(absl::StrCat("job ", id, ": its id cannot change"));
    }
    if (absl::Status s = Save(job); !s.ok()) return s;
    return Append(id, now, events);
  });
  if (!status.ok()) return status;
  return job;
}

absl::StatusOr<std::vector<ofa::v1::Job>> JobStore::List(const ListFilter& filter) {
  std::string sql = "SELECT id, job FROM jobs WHERE 1";
  std::vector<SqliteDb::Value> params;
  if (!filter.states.empty()) {
    sql += " AND state IN (";
    for (size_t i = 0; i < filter.states.size(); ++i) {
      sql += i == 0 ? "?" : ", ?";
      params.emplace_back(int64_t{filter.states[i]});
    }
    sql += ")";
  }
  if (!filter.owner.empty()) {
    sql += " AND owner = ?";
    params.emplace_back(filter.owner);
  }
  if (filter.before_seq > 0) {
    sql += " AND seq < ?";
    params.emplace_back(filter.before_seq);
  }
  sql +=
      filter.newest_first ? " ORDER BY seq DESC LIMIT ?" : " ORDER BY priority DESC, seq LIMIT ?";
  params.emplace_back(int64_t{filter.limit});
  absl::StatusOr<std::vector<SqliteDb::Row>> rows = db_->Query(sql, params);
  if (!rows.ok()) return rows.status();
  std::vector<ofa::v1::Job> jobs;
  for (const SqliteDb::Row& row : *rows) {
    absl::StatusOr<ofa::v1::Job> job = ParseJob(AsText(row[0]), AsText(row[1]));
    if (!job.ok()) return job.status();
    jobs.push_back(*std::move(job));
  }
  return jobs;
}

int64_t JobStore::SequenceOf(const std::string& job_id) {
  int64_t seq = 0;
  if (job_id.size() < 5 || job_id.compare(0, 4, "job-") != 0) return 0;
  for (size_t i = 4; i < job_id.size(); ++i) {
    if (job_id[i] < '0' || job_id[i] > '9' || seq > (int64_t{1} << 40)) return 0;
    seq = seq * 10 + (job_id[i] - '0');
  }
  return seq;
}

absl::StatusOr<std::vector<ofa::v1::JobEvent>> JobStore::EventsAfter(const std::string& id,
                                                                     int64_t after, int limit) {
  if (absl::StatusOr<ofa::v1::Job> job = Load(id); !job.ok()) return job.status();
  absl::StatusOr<std::vector<SqliteDb::Row>> rows = db_->Query(
      "SELECT event FROM job_events WHERE job_id = ? AND sequence > ? ORDER BY sequence "
      "LIMIT ?",
      {id, after, int64_t{limit}});
  if (!rows.ok()) return rows.status();
  std::vector<ofa::v1::JobEvent> events;
  for (const SqliteDb::Row& row : *rows) {
    ofa::v1::JobEvent event;
    if (!event.ParseFromString(AsText(row[0]))) {
      return absl::DataLossError(absl::StrCat("a stored event of job ", id, " is corrupt"));
    }
    events.push_back(std::move(event));
  }
  return events;
}

}  // namespace ofa::coordinator
