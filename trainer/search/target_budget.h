#ifndef OFA_TRAINER_SEARCH_TARGET_BUDGET_H_
#define OFA_TRAINER_SEARCH_TARGET_BUDGET_H_

#include <string>

#include "absl/status/statusor.h"
#include "ofa/v1/job_spec.pb.h"
#include "trainer/nn/supernet_architecture.h"
#include "trainer/search/latency_model.h"

namespace ofa::trainer {

// The budgets of one deployment target: MACs, parameters and latency under its model. A
// sub-network is eligible only if it meets every budget that is set.
class TargetBudget {
 public:
  static absl::StatusOr<TargetBudget> Make(const SupernetArchitecture& arch,
                                           const ofa::v1::DeploymentTarget& target,
                                           const ofa::v1::JobSpec& spec);

  bool Meets(const SubnetChoice& choice) const;
  // e.g. "<= 1.37M MACs, <= 2.5 ms at batch 1 (table:phone)".
  std::string Describe() const;
  const LatencyModel& latency() const { return latency_; }
  const ofa::v1::DeploymentTarget& target() const { return target_; }

 private:
  TargetBudget(const SupernetArchitecture& arch, ofa::v1::DeploymentTarget target,
               LatencyModel latency)
      : arch_(arch), target_(std::move(target)), latency_(std::move(latency)) {}

  SupernetArchitecture arch_;
  ofa::v1::DeploymentTarget target_;
  LatencyModel latency_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SEARCH_TARGET_BUDGET_H_
