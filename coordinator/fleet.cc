#include "coordinator/fleet.h"

#include <algorithm>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ofa::coordinator {

std::string Fleet::Register(const ofa::v1::RegisterWorkerRequest& request, absl::Time now,
                            std::vector<std::string>* orphaned) {
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.info.hostname() != request.hostname()) {
      ++it;
      continue;
    }
    for (const auto& [device, task] : it->second.slot_task) {
      if (!task.empty()) orphaned->push_back(task);
    }
    it = workers_.erase(it);
  }
  // Ids are unique for the coordinator's lifetime and name the host for people reading logs.
  Worker worker;
  worker.id = absl::StrFormat("w%d-%s", next_id_++, request.hostname());
  worker.info = request;
  worker.lease_expiry = now + lease_;
  for (const ofa::v1::Device& device : request.devices()) worker.slot_task[device.index()] = "";
  const std::string id = worker.id;
  workers_[id] = std::move(worker);
  return id;
}

void Fleet::Restore(const std::string& id, const ofa::v1::RegisterWorkerRequest& info,
                    bool draining, absl::Time lease_expiry) {
  Worker& worker = workers_[id];
  worker.id = id;
  worker.info = info;
  worker.draining = draining;
  worker.lease_expiry = lease_expiry;
  for (const ofa::v1::Device& device : info.devices()) worker.slot_task[device.index()] = "";
  int64_t number = 0;  // Ids are "w<number>-<host>".
  if (absl::SimpleAtoi(absl::string_view(id).substr(1, id.find('-') - 1), &number)) {
    next_id_ = std::max(next_id_, number + 1);
  }
}

bool Fleet::Hold(const Slot& slot, const std::string& task_id) {
  auto it = workers_.find(slot.worker_id);
  if (it == workers_.end()) return false;
  auto device = it->second.slot_task.find(slot.device_index);
  if (device == it->second.slot_task.end()) return false;
  device->second = task_id;
  return true;
}

absl::Status Fleet::Renew(const std::string& worker_id, bool draining, absl::Time now) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) {
    return absl::NotFoundError(absl::StrCat("worker ", worker_id, " is not registered"));
  }
  it->second.lease_expiry = now + lease_;
  it->second.draining = draining;
  return absl::OkStatus();
}

namespace {

std::vector<std::string> TasksOf(const Fleet::Worker& worker) {
  std::vector<std::string> tasks;
  for (const auto& [device, task] : worker.slot_task) {
    if (!task.empty()) tasks.push_back(task);
  }
  return tasks;
}

}  // namespace

std::vector<std::pair<std::string, std::vector<std::string>>> Fleet::ExpireLeases(absl::Time now) {
  std::vector<std::pair<std::string, std::vector<std::string>>> lost;
  for (auto it = workers_.begin(); it != workers_.end();) {
    if (it->second.lease_expiry > now) {
      ++it;
      continue;
    }
    lost.emplace_back(it->first, TasksOf(it->second));
    it = workers_.erase(it);
  }
  return lost;
}

std::optional<std::vector<std::string>> Fleet::Remove(const std::string& worker_id) {
  auto it = workers_.find(worker_id);
  if (it == workers_.end()) return std::nullopt;
  std::vector<std::string> tasks = TasksOf(it->second);
  workers_.erase(it);
  return tasks;
}

std::optional<std::vector<Slot>> Fleet::PlaceGang(ofa::v1::DeviceKind kind, int workers,
                                                  int devices_per_worker,
                                                  const std::vector<std::string>& task_ids) {
  std::vector<Slot> slots;
  int chosen_workers = 0;
  for (auto& [id, worker] : workers_) {
    if (chosen_workers == workers) break;
    if (worker.draining) continue;
    std::vector<int> free;
    for (const ofa::v1::Device& device : worker.info.devices()) {
      if (device.kind() == kind && worker.slot_task[device.index()].empty()) {
        free.push_back(device.index());
      }
    }
    if (static_cast<int>(free.size()) < devices_per_worker) continue;
    for (int i = 0; i < devices_per_worker; ++i) slots.push_back({id, free[i]});
    ++chosen_workers;
  }
  if (chosen_workers < workers || slots.size() != task_ids.size()) return std::nullopt;
  for (size_t i = 0; i < slots.size(); ++i) {
    workers_[slots[i].worker_id].slot_task[slots[i].device_index] = task_ids[i];
  }
  return slots;
}

void Fleet::Release(const Slot& slot, const std::string& task_id) {
  auto it = workers_.find(slot.worker_id);
  if (it == workers_.end()) return;
  auto device = it->second.slot_task.find(slot.device_index);
  if (device != it->second.slot_task.end() && device->second == task_id) device->second.clear();
}

const Fleet::Worker* Fleet::Find(const std::string& worker_id) const {
  auto it = workers_.find(worker_id);
  return it == workers_.end() ? nullptr : &it->second;
}

}  // namespace ofa::coordinator
