#ifndef OFA_TRAINER_NN_SUBNET_EXPORT_H_
#define OFA_TRAINER_NN_SUBNET_EXPORT_H_

#include "absl/status/statusor.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/nn/standalone_subnet.h"

namespace ofa::trainer {

// The layout of `choice` as a standalone network (no weights).
StandaloneLayout StandaloneLayoutOf(const SupernetArchitecture& arch, const SubnetChoice& choice);

// Copies the weights `choice` uses out of the supernet into a standalone network (in eval
// mode) whose outputs equal supernet(x, choice) in eval mode: channels sliced, smaller kernels
// computed through the kernel transformation matrices, BN statistics copied. The layout's
// metadata records the choice and its analytic cost. INVALID_ARGUMENT if `choice` does not
// fit the supernet.
absl::StatusOr<StandaloneSubnet> ExportSubnet(OfaSupernet& supernet, const SubnetChoice& choice);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_SUBNET_EXPORT_H_
