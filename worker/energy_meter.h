#ifndef OFA_WORKER_ENERGY_METER_H_
#define OFA_WORKER_ENERGY_METER_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "ofa/v1/worker_service.pb.h"
#include "worker/nvml_library.h"
#include "worker/rapl_counter.h"

namespace ofa::worker {

// Cumulative energy of each device this worker offers, from the best source it can read:
//  - GPUs: NVML's total-energy counter (Volta and newer), else NVML power samples integrated
//    over time (trapezoids), else the power model;
//  - CPU slots: the node's RAPL package (+ DRAM) counters, the node's energy of each interval
//    shared among slots by their trainers' CPU time (equally when all are idle), else the
//    power model.
// The power model (no hardware reading) is P = rated x (idle + (1 - idle) x utilisation),
// rated = the GPU's power limit or cores x watts-per-core for a CPU slot; what it yields is
// kept apart as estimated energy and never reported as measured.
class EnergyMeter {
 public:
  struct Options {
    std::vector<ofa::v1::Device> devices;
    int cores_per_cpu_slot = 1;
    // Power-model defaults: a current server CPU draws about 4-8 W per core at full load
    // (e.g. 280 W TDP / 64 cores = 4.4 W, 205 W / 28 cores = 7.3 W) and idles near a third
    // of that; GPUs idle near 20-30% of their power limit.
    double cpu_watts_per_core = 6.0;
    double idle_fraction = 0.3;
    std::string powercap_root = "/sys/class/powercap";
    bool use_nvml = true;
  };
  struct Reading {
    double energy_joules = 0;            // Since the meter started.
    double estimated_energy_joules = 0;  // The part of energy_joules from the power model.
    double power_watts = 0;              // Over the last interval.
    bool measured = false;               // The last interval came from hardware.
  };

  explicit EnergyMeter(Options options);

  // Advances every device to `now`. `cpu_seconds` holds, per CPU slot index, the CPU time
  // its trainer used since the previous call; `busy_gpus` the GPU indices running a task.
  void Sample(absl::Time now, const std::map<int, double>& cpu_seconds,
              const std::vector<int>& busy_gpus);
  Reading Get(int device_index) const;
  // Where each kind of device's energy comes from, for the log and the docs.
  std::string Describe() const;

 private:
  struct DeviceState {
    ofa::v1::Device device;
    Reading reading;
    bool nvml_energy = false;  // Hardware counter.
    bool nvml_power = false;   // Power samples.
    double last_counter = 0;   // Last NVML energy counter value, joules.
    double last_watts = -1;    // Last NVML power sample (-1 = none yet).
  };
  double ModelWatts(const DeviceState& state, double utilisation) const;
  void SampleGpu(DeviceState& state, double seconds, bool busy);

  Options options_;
  std::map<int, DeviceState> devices_;
  std::vector<std::unique_ptr<RaplCounter>> rapl_;
  std::string rapl_error_;
  std::unique_ptr<NvmlLibrary> nvml_;
  double rapl_last_ = 0;
  absl::Time last_sample_ = absl::InfinitePast();
};

}  // namespace ofa::worker

#endif  // OFA_WORKER_ENERGY_METER_H_
