#ifndef OFA_TRAINER_NN_PERTURBED_SUPERNET_FOR_TEST_H_
#define OFA_TRAINER_NN_PERTURBED_SUPERNET_FOR_TEST_H_

#include <cstdint>

#include "trainer/nn/ofa_supernet.h"

namespace ofa::trainer {

// A supernet (in eval mode) whose kernel transform matrices, BN statistics and affine
// parameters are all non-trivial, so that a slicing, folding or activation mistake in anything
// derived from it changes the outputs.
OfaSupernet PerturbedSupernet(const SupernetArchitecture& arch, uint64_t seed);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_PERTURBED_SUPERNET_FOR_TEST_H_
