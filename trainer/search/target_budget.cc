#include "trainer/search/target_budget.h"

#include <vector>

#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "trainer/nn/subnet_cost.h"

namespace ofa::trainer {

absl::StatusOr<TargetBudget> TargetBudget::Make(const SupernetArchitecture& arch,
                                                const ofa::v1::DeploymentTarget& target,
                                                const ofa::v1::JobSpec& spec) {
  absl::StatusOr<LatencyModel> latency = LatencyModel::ForTarget(arch, target, spec);
  if (!latency.ok()) return latency.status();
  return TargetBudget(arch, target, *std::move(latency));
}

bool TargetBudget::Meets(const SubnetChoice& choice) const {
  if (target_.max_macs() > 0 || target_.max_params() > 0) {
    const SubnetCost cost = ComputeSubnetCost(arch_, choice);
    if (target_.max_macs() > 0 && cost.macs > target_.max_macs()) return false;
    if (target_.max_params() > 0 && cost.params > target_.max_params()) return false;
  }
  return target_.max_latency_ms() <= 0 || latency_.LatencyMs(choice) <= target_.max_latency_ms();
}

std::string TargetBudget::Describe() const {
  std::vector<std::string> parts;
  if (target_.max_macs() > 0) parts.push_back(absl::StrFormat("<= %.3gM MACs", target_.max_macs() / 1e6));
  if (target_.max_params() > 0) {
    parts.push_back(absl::StrFormat("<= %.3gM params", target_.max_params() / 1e6));
  }
  if (target_.max_latency_ms() > 0) {
    parts.push_back(absl::StrFormat("<= %g ms at batch %d (%s)", target_.max_latency_ms(),
                                    std::max(1, target_.latency_batch_size()),
                                    latency_.description()));
  }
  return parts.empty() ? "no budget" : absl::StrJoin(parts, ", ");
}

}  // namespace ofa::trainer
