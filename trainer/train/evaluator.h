#ifndef OFA_TRAINER_TRAIN_EVALUATOR_H_
#define OFA_TRAINER_TRAIN_EVALUATOR_H_

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "trainer/data/image_dataset.h"
#include "trainer/nn/ofa_supernet.h"

namespace ofa::trainer {

struct EvalResult {
  double top1 = 0;  // Fraction in [0, 1].
  double loss = 0;  // Mean cross entropy.
  int64_t images = 0;
};

// `x` resized (bilinear) to `resolution` if it is not already.
torch::Tensor AtResolution(const torch::Tensor& x, int resolution);

// Keeps a copy of the supernet's buffers (BN statistics) and training mode, and puts both
// back when it goes out of scope: for work that recalibrates BN for one sub-network.
class BatchNormStatisticsGuard {
 public:
  explicit BatchNormStatisticsGuard(OfaSupernet& model);
  ~BatchNormStatisticsGuard();
  BatchNormStatisticsGuard(const BatchNormStatisticsGuard&) = delete;
  BatchNormStatisticsGuard& operator=(const BatchNormStatisticsGuard&) = delete;

 private:
  OfaSupernet model_;
  bool was_training_;
  std::vector<torch::Tensor> saved_;
};

// Evaluates one sub-network as the OFA paper does: its BN statistics are first recalibrated
// on `calibration_batches` training batches (sub-networks share BN layers, so the supernet's
// running statistics do not fit any one of them), then top-1 and loss are measured on `test`.
// All BN statistics of the supernet are restored afterwards, and its training mode too
// (BatchNormStatisticsGuard).
EvalResult EvaluateSubnet(OfaSupernet& model, const SubnetChoice& choice,
                          const ImageDataset& train, const ImageDataset& test,
                          int calibration_batches, int64_t batch_size, uint64_t seed);

// Recalibrates `choice`'s BN statistics in place (kept), for export.
void RecalibrateBatchNorm(OfaSupernet& model, const SubnetChoice& choice,
                          const ImageDataset& train, int calibration_batches,
                          int64_t batch_size, uint64_t seed);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_EVALUATOR_H_
