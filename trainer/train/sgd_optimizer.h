#ifndef OFA_TRAINER_TRAIN_SGD_OPTIMIZER_H_
#define OFA_TRAINER_TRAIN_SGD_OPTIMIZER_H_

#include <memory>

#include <torch/torch.h>

#include "trainer/nn/ofa_supernet.h"

namespace ofa::trainer {

// The optimizer of every training phase, as in the OFA authors' code: SGD with Nesterov
// momentum, weight decay on all parameters except BN parameters and biases ("bn#bias").
// The learning rate starts at 0; set it each step with SetLearningRate.
std::unique_ptr<torch::optim::SGD> MakeSgdOptimizer(OfaSupernet& model, double momentum,
                                                    double weight_decay);

void SetLearningRate(torch::optim::SGD& optimizer, double lr);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_SGD_OPTIMIZER_H_
