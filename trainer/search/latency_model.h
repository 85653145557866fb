#ifndef OFA_TRAINER_SEARCH_LATENCY_MODEL_H_
#define OFA_TRAINER_SEARCH_LATENCY_MODEL_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ofa/v1/job_spec.pb.h"
#include "trainer/nn/standalone_subnet.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

// One layer of a standalone network as the latency table sees it: its shape and the
// resolution of its input. The key names it in a LatencyTable.
struct LatencyLayer {
  enum class Kind { kStem, kBlock, kHead };
  Kind kind = Kind::kBlock;
  int resolution = 0;               // Input side in pixels.
  StandaloneBlockLayout block;      // kBlock only.
  int in_channels = 0;              // kStem and kHead.
  int out_channels = 0;             // kStem: stem channels; kHead: classes.
  int stride = 1;                   // kStem.
  int final_expand_channels = 0;    // kHead.
  int last_channel = 0;             // kHead.
  std::string key;
};

// The layers of `layout`, in order: stem, every block, head (expand, pool, mix, classifier).
std::vector<LatencyLayer> LatencyLayersOf(const StandaloneLayout& layout);

// Every distinct layer any sub-network of `arch` has, keyed (what a profiler must measure).
std::map<std::string, LatencyLayer> AllLatencyLayers(const SupernetArchitecture& arch);

// A deployment target's latency model: the sum of a LatencyTable's per-layer latencies, or,
// without a table, MACs x batch at an assumed throughput (a proxy, and labelled so).
class LatencyModel {
 public:
  // INVALID_ARGUMENT if the target names a table the spec lacks, whose batch size differs
  // from the target's, or that misses a layer of the search space (named).
  static absl::StatusOr<LatencyModel> ForTarget(const SupernetArchitecture& arch,
                                                const ofa::v1::DeploymentTarget& target,
                                                const ofa::v1::JobSpec& spec);

  double LatencyMs(const SubnetChoice& choice) const;
  // "table:<name>" or "macs-proxy:<G> GMAC/s".
  const std::string& description() const { return description_; }

 private:
  LatencyModel() = default;

  SupernetArchitecture arch_;
  int batch_size_ = 1;
  double gmacs_per_second_ = 0;  // > 0: the proxy.
  std::map<std::string, double> layer_ms_;
  std::string description_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SEARCH_LATENCY_MODEL_H_
