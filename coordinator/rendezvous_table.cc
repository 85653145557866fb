#include "coordinator/rendezvous_table.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace ofa::coordinator {

absl::Status RendezvousTable::CheckScope(const ofa::v1::RendezvousScope& scope) {
  if (scope.job_id().empty() || scope.job_id().size() > kMaxKeyLength) {
    return absl::InvalidArgumentError("scope.job_id: must be 1-256 characters");
  }
  if (scope.phase().empty() || scope.phase().size() > kMaxKeyLength) {
    return absl::InvalidArgumentError("scope.phase: must be 1-256 characters");
  }
  if (scope.attempt() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("scope.attempt: must not be negative, not ", scope.attempt()));
  }
  return absl::OkStatus();
}

absl::Status RendezvousTable::CheckKey(const std::string& key, const char* field) {
  if (key.empty() || key.size() > kMaxKeyLength) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": must be 1-256 characters, not ",
                                                   key.size()));
  }
  return absl::OkStatus();
}

std::string RendezvousTable::Prefix(const ofa::v1::RendezvousScope& scope) {
  // Lengths first, so no (job, phase) pair can impersonate another.
  return absl::StrCat(scope.job_id().size(), ":", scope.job_id(), "/", scope.phase().size(),
                      ":", scope.phase(), "/", scope.attempt(), "/");
}

absl::Status RendezvousTable::Set(const ofa::v1::RendezvousScope& scope,
                                  const std::string& key, const std::string& value) {
  if (absl::Status s = CheckScope(scope); !s.ok()) return s;
  if (absl::Status s = CheckKey(key, "key"); !s.ok()) return s;
  if (value.size() > kMaxValueBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("value: at most 65536 bytes, not ", value.size()));
  }
  {
    std::lock_guard<std::mutex> lock(mutex_);
    values_[Prefix(scope) + key] = value;
  }
  changed_.notify_all();
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> RendezvousTable::Get(
    const ofa::v1::RendezvousScope& scope, const std::vector<std::string>& keys,
    absl::Duration timeout) {
  if (absl::Status s = CheckScope(scope); !s.ok()) return s;
  if (keys.empty() || keys.size() > 1024) {
    return absl::InvalidArgumentError("keys: between 1 and 1024 keys");
  }
  for (size_t i = 0; i < keys.size(); ++i) {
    if (absl::Status s = CheckKey(keys[i], absl::StrCat("keys[", i, "]").c_str()); !s.ok()) {
      return s;
    }
  }
  if (timeout < absl::ZeroDuration() || timeout > kMaxWait) {
    return absl::InvalidArgumentError("timeout: between 0 and 30 minutes");
  }
  const std::string prefix = Prefix(scope);
  const absl::Time deadline = absl::Now() + timeout;
  std::unique_lock<std::mutex> lock(mutex_);
  std::string missing;
  auto all_there = [&] {
    for (const std::string& key : keys) {
      if (values_.count(prefix + key) == 0) {
        missing = key;
        return false;
      }
    }
    return true;
  };
  while (!all_there()) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) {
      return absl::DeadlineExceededError(absl::StrCat(
          "key \"", missing, "\" of job ", scope.job_id(), ", phase ", scope.phase(),
          ", attempt ", scope.attempt(), " was not set within ",
          absl::FormatDuration(timeout)));
    }
    changed_.wait_for(lock, absl::ToChronoMilliseconds(left) + std::chrono::milliseconds(1));
  }
  std::vector<std::string> values;
  for (const std::string& key : keys) values.push_back(values_[prefix + key]);
  return values;
}

absl::StatusOr<int64_t> RendezvousTable::Add(const ofa::v1::RendezvousScope& scope,
                                             const std::string& key, int64_t delta) {
  if (absl::Status s = CheckScope(scope); !s.ok()) return s;
  if (absl::Status s = CheckKey(key, "key"); !s.ok()) return s;
  int64_t value = 0;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    std::string& stored = values_[Prefix(scope) + key];
    if (!stored.empty() && !absl::SimpleAtoi(stored, &value)) {
      return absl::FailedPreconditionError(
          absl::StrCat("key \"", key, "\" holds a value that is not an integer"));
    }
    value += delta;
    stored = absl::StrCat(value);
  }
  changed_.notify_all();
  return value;
}

void RendezvousTable::DropJob(const std::string& job_id) {
  const std::string prefix = absl::StrCat(job_id.size(), ":", job_id, "/");
  std::lock_guard<std::mutex> lock(mutex_);
  for (auto it = values_.lower_bound(prefix);
       it != values_.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
    it = values_.erase(it);
  }
}

}  // namespace ofa::coordinator
