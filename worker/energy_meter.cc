#include "worker/energy_meter.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ofa::worker {

EnergyMeter::EnergyMeter(Options options) : options_(std::move(options)) {
  bool any_cpu = false;
  bool any_gpu = false;
  for (const ofa::v1::Device& d : options_.devices) {
    devices_[d.index()].device = d;
    (d.kind() == ofa::v1::DEVICE_KIND_CUDA ? any_gpu : any_cpu) = true;
  }
  if (any_cpu) {
    absl::StatusOr<std::vector<std::unique_ptr<RaplCounter>>> rapl =
        OpenRaplDomains(options_.powercap_root);
    if (rapl.ok()) {
      rapl_ = *std::move(rapl);
    } else {
      rapl_error_ = std::string(rapl.status().message());
    }
  }
  if (any_gpu && options_.use_nvml) {
    absl::StatusOr<std::unique_ptr<NvmlLibrary>> nvml = NvmlLibrary::Load();
    if (nvml.ok()) nvml_ = *std::move(nvml);
  }
  for (auto& [index, state] : devices_) {
    if (state.device.kind() != ofa::v1::DEVICE_KIND_CUDA || nvml_ == nullptr) continue;
    absl::StatusOr<double> counter = nvml_->TotalEnergyJoules(index);
    state.nvml_energy = counter.ok();
    if (counter.ok()) state.last_counter = *counter;
    state.nvml_power = !state.nvml_energy && nvml_->PowerWatts(index).ok();
  }
}

double EnergyMeter::ModelWatts(const DeviceState& state, double utilisation) const {
  const double rated = state.device.kind() == ofa::v1::DEVICE_KIND_CUDA
                           ? state.device.power_limit_watts()
                           : options_.cores_per_cpu_slot * options_.cpu_watts_per_core;
  const double u = std::clamp(utilisation, 0.0, 1.0);
  return rated * (options_.idle_fraction + (1 - options_.idle_fraction) * u);
}

void EnergyMeter::SampleGpu(DeviceState& state, double seconds, bool busy) {
  const int index = state.device.index();
  Reading& r = state.reading;
  if (state.nvml_energy) {
    absl::StatusOr<double> counter = nvml_->TotalEnergyJoules(index);
    if (counter.ok() && *counter >= state.last_counter) {
      r.energy_joules += *counter - state.last_counter;
      r.power_watts = (*counter - state.last_counter) / seconds;
      state.last_counter = *counter;
      r.measured = true;
      return;
    }
    if (counter.ok()) state.last_counter = *counter;  // Driver reloaded: counter restarted.
  } else if (state.nvml_power) {
    absl::StatusOr<double> watts = nvml_->PowerWatts(index);
    if (watts.ok()) {
      const double previous = state.last_watts >= 0 ? state.last_watts : *watts;
      r.energy_joules += 0.5 * (previous + *watts) * seconds;
      r.power_watts = *watts;
      state.last_watts = *watts;
      r.measured = true;
      return;
    }
  }
  // No reading this time: the power model covers the interval, marked as estimated.
  double utilisation = busy ? 1.0 : 0.0;
  if (nvml_ != nullptr) utilisation = nvml_->Utilization(index).value_or(utilisation);
  r.power_watts = ModelWatts(state, utilisation);
  r.measured = false;
  r.energy_joules += r.power_watts * seconds;
  r.estimated_energy_joules += r.power_watts * seconds;
}

void EnergyMeter::Sample(absl::Time now, const std::map<int, double>& cpu_seconds,
                         const std::vector<int>& busy_gpus) {
  if (last_sample_ == absl::InfinitePast()) {
    last_sample_ = now;
    for (auto& counter : rapl_) rapl_last_ += counter->Read().value_or(0);
    return;
  }
  const double seconds = absl::ToDoubleSeconds(now - last_sample_);
  if (seconds <= 0) return;
  last_sample_ = now;

  // The node's RAPL energy over the interval, if every domain could be read.
  double node_joules = -1;
  if (!rapl_.empty()) {
    double total = 0;
    bool complete = true;
    for (auto& counter : rapl_) {
      absl::StatusOr<double> joules = counter->Read();
      complete = complete && joules.ok();
      total += joules.value_or(0);
    }
    if (complete) {
      node_joules = std::max(0.0, total - rapl_last_);
      rapl_last_ = total;
    }
  }
  std::vector<DeviceState*> cpu_slots;
  double cpu_total = 0;
  for (auto& [index, state] : devices_) {
    if (state.device.kind() == ofa::v1::DEVICE_KIND_CUDA) {
      SampleGpu(state, seconds,
                std::find(busy_gpus.begin(), busy_gpus.end(), index) != busy_gpus.end());
      continue;
    }
    cpu_slots.push_back(&state);
    auto it = cpu_seconds.find(index);
    if (it != cpu_seconds.end()) cpu_total += std::max(0.0, it->second);
  }
  // A RAPL read that failed this time is caught up by the next one (counters are cumulative).
  if (!rapl_.empty() && node_joules < 0) return;
  for (DeviceState* state : cpu_slots) {
    auto it = cpu_seconds.find(state->device.index());
    const double used = it == cpu_seconds.end() ? 0.0 : std::max(0.0, it->second);
    Reading& r = state->reading;
    double joules = 0;
    if (node_joules >= 0) {
      const double share = cpu_total > 0 ? used / cpu_total : 1.0 / cpu_slots.size();
      joules = node_joules * share;
      r.measured = true;
    } else {
      r.measured = false;
      joules = ModelWatts(*state, used / (seconds * options_.cores_per_cpu_slot)) * seconds;
      r.estimated_energy_joules += joules;
    }
    r.energy_joules += joules;
    r.power_watts = joules / seconds;
  }
}

EnergyMeter::Reading EnergyMeter::Get(int device_index) const {
  auto it = devices_.find(device_index);
  return it == devices_.end() ? Reading{} : it->second.reading;
}

std::string EnergyMeter::Describe() const {
  std::vector<std::string> parts;
  bool any_cpu = false;
  for (const auto& [index, state] : devices_) {
    if (state.device.kind() != ofa::v1::DEVICE_KIND_CUDA) {
      any_cpu = true;
      continue;
    }
    parts.push_back(absl::StrCat("GPU ", index, ": ",
                                 state.nvml_energy  ? "NVML total-energy counter"
                                 : state.nvml_power ? "NVML power samples"
                                                    : "ESTIMATED from power limit x utilisation"));
  }
  if (any_cpu) {
    if (!rapl_.empty()) {
      std::vector<std::string> names;
      for (const auto& counter : rapl_) names.push_back(counter->name());
      parts.push_back(absl::StrCat("CPU slots: RAPL (", absl::StrJoin(names, ", "),
                                   ") shared by trainer CPU time"));
    } else {
      parts.push_back(absl::StrCat("CPU slots: ESTIMATED at ", options_.cpu_watts_per_core,
                                   " W per core x utilisation (", rapl_error_, ")"));
    }
  }
  return absl::StrJoin(parts, "; ");
}

}  // namespace ofa::worker
