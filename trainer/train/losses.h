#ifndef OFA_TRAINER_TRAIN_LOSSES_H_
#define OFA_TRAINER_TRAIN_LOSSES_H_

#include <torch/torch.h>

namespace ofa::trainer {

// Cross entropy against labels smoothed by `smoothing` (mean over the batch).
torch::Tensor LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                        double smoothing);

// Knowledge distillation loss of the OFA authors: cross entropy against the teacher's softmax
// (no temperature), mean over the batch.
torch::Tensor SoftTargetCrossEntropy(const torch::Tensor& logits,
                                     const torch::Tensor& teacher_logits);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_LOSSES_H_
