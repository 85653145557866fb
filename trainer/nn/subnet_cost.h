#ifndef OFA_TRAINER_NN_SUBNET_COST_H_
#define OFA_TRAINER_NN_SUBNET_COST_H_

#include <cstdint>

#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

struct SubnetCost {
  // Multiply-accumulates of one forward pass of one image at the choice's resolution: every
  // convolution (SE included) and the classifier, as the OFA authors' FLOPs counter counts
  // them (what the paper calls "FLOPs"). Batch norm, activations and pooling are not counted.
  int64_t macs = 0;
  // Parameters of the standalone sub-network: weights, biases, BN scale and shift.
  int64_t params = 0;
};

// Analytic cost of `choice` (assumed valid for `arch`); no model is built.
SubnetCost ComputeSubnetCost(const SupernetArchitecture& arch, const SubnetChoice& choice);

// Training FLOPs of one image through `choice`: 2 FLOPs per MAC forward, twice that backward.
inline double TrainingFlopsPerImage(const SubnetCost& cost) { return 6.0 * cost.macs; }

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_SUBNET_COST_H_
