#ifndef OFA_WORKER_RAPL_COUNTER_H_
#define OFA_WORKER_RAPL_COUNTER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ofa::worker {

// One RAPL energy domain of the Linux powercap interface (e.g.
// /sys/class/powercap/intel-rapl:0, the CPU package, or intel-rapl:0:2 when its name is
// "dram"). The hardware counter energy_uj is a microjoule count that wraps around at
// max_energy_range_uj; Read() turns it into joules accumulated since Open, counting one wrap
// whenever the value went down. Reads at least every few minutes never miss a wrap (the
// fastest counters wrap after about an hour at full power).
class RaplCounter {
 public:
  static absl::StatusOr<std::unique_ptr<RaplCounter>> Open(const std::string& domain_dir);

  // Joules since Open; an error (naming the file) if the counter cannot be read.
  absl::StatusOr<double> Read();
  const std::string& name() const { return name_; }
  const std::string& dir() const { return dir_; }

 private:
  RaplCounter(std::string dir, std::string name, uint64_t range, uint64_t first)
      : dir_(std::move(dir)), name_(std::move(name)), range_(range), last_(first) {}

  std::string dir_;
  std::string name_;  // "package-0", "dram", ...
  uint64_t range_;    // max_energy_range_uj.
  uint64_t last_;
  double total_uj_ = 0;
};

// The node's package domains and their DRAM subdomains under `powercap_root`, in name order
// (package-0, its dram, package-1, ...). Cores/uncore subdomains are left out: the package
// already includes them. NOT_FOUND, saying why, when there are none or none can be read
// (many kernels make energy_uj readable by root only).
absl::StatusOr<std::vector<std::unique_ptr<RaplCounter>>> OpenRaplDomains(
    const std::string& powercap_root = "/sys/class/powercap");

}  // namespace ofa::worker

#endif  // OFA_WORKER_RAPL_COUNTER_H_
