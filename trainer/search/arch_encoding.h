#ifndef OFA_TRAINER_SEARCH_ARCH_ENCODING_H_
#define OFA_TRAINER_SEARCH_ARCH_ENCODING_H_

#include <vector>

#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

// The accuracy predictor's input (the OFA authors' encoding): per block slot a one-hot kernel
// size and a one-hot expand ratio, all zeros for a slot its stage's depth skips, then a
// one-hot resolution. Fixed length for a given supernet.
int EncodingSize(const SupernetArchitecture& arch);
std::vector<float> EncodeArchitecture(const SupernetArchitecture& arch,
                                      const SubnetChoice& choice);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SEARCH_ARCH_ENCODING_H_
