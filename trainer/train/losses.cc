#include "trainer/train/losses.h"

namespace ofa::trainer {

torch::Tensor LabelSmoothedCrossEntropy(const torch::Tensor& logits, const torch::Tensor& labels,
                                        double smoothing) {
  return torch::nn::functional::cross_entropy(
      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(smoothing));
}

torch::Tensor SoftTargetCrossEntropy(const torch::Tensor& logits,
                                     const torch::Tensor& teacher_logits) {
  return -(torch::softmax(teacher_logits, 1) * torch::log_softmax(logits, 1)).sum(1).mean();
}

}  // namespace ofa::trainer
