#ifndef OFA_TRAINER_TRAIN_SUBNET_SAMPLER_H_
#define OFA_TRAINER_TRAIN_SUBNET_SAMPLER_H_

#include <cstdint>

#include "ofa/v1/schedule.pb.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

// The sub-network a phase trains at (step, index): each block's kernel and expand ratio and
// each stage's depth drawn uniformly from the phase's lists (an empty list = the supernet's
// maximum), and the resolution from the supernet's. Under the phase's sandwich rule, index 0
// is the phase's largest and index subnets_per_step - 1 its smallest. A pure function of its
// arguments, so every rank samples the same sub-network and a resumed phase continues the
// same sequence.
SubnetChoice SampleSubnet(const SupernetArchitecture& arch, const ofa::v1::PhaseSpec& phase,
                          uint64_t seed, int phase_index, int64_t step, int index);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_SUBNET_SAMPLER_H_
