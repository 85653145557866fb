#include "coordinator/subnet_store.h"

#include "absl/strings/str_cat.h"

namespace ofa::coordinator {

absl::StatusOr<std::unique_ptr<SubnetStore>> SubnetStore::Open(SqliteDb* db) {
  if (absl::Status s = db->Exec(R"sql(
CREATE TABLE IF NOT EXISTS subnets (
  job_id TEXT NOT NULL,
  position INTEGER NOT NULL,
  target TEXT NOT NULL,
  subnet BLOB NOT NULL,
  PRIMARY KEY (job_id, target)
);
)sql");
      !s.ok()) {
    return s;
  }
  return std::unique_ptr<SubnetStore>(new SubnetStore(db));
}

absl::Status SubnetStore::Put(const std::string& job_id,
                              const std::vector<ofa::v1::Subnet>& subnets) {
  return db_->Transaction([&]() -> absl::Status {
    if (absl::Status s = db_->Query("DELETE FROM subnets WHERE job_id = ?", {job_id}).status();
        !s.ok()) {
      return s;
    }
    for (size_t i = 0; i < subnets.size(); ++i) {
      absl::Status s =
          db_->Query("INSERT INTO subnets (job_id, position, target, subnet) VALUES (?, ?, ?, ?)",
                     {job_id, static_cast<int64_t>(i), subnets[i].target(),
                      SqliteDb::Blob{subnets[i].SerializeAsString()}})
              .status();
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  });
}

absl::StatusOr<std::vector<ofa::v1::Subnet>> SubnetStore::List(const std::string& job_id) {
  absl::StatusOr<std::vector<SqliteDb::Row>> rows =
      db_->Query("SELECT subnet FROM subnets WHERE job_id = ? ORDER BY position", {job_id});
  if (!rows.ok()) return rows.status();
  std::vector<ofa::v1::Subnet> subnets;
  for (const SqliteDb::Row& row : *rows) {
    if (!subnets.emplace_back().ParseFromString(AsText(row[0]))) {
      return absl::DataLossError(absl::StrCat("a stored sub-network of job ", job_id,
                                              " is corrupt"));
    }
  }
  return subnets;
}

}  // namespace ofa::coordinator
