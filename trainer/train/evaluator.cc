#include "trainer/train/evaluator.h"

#include <vector>

#include "trainer/data/batch_loader.h"

namespace ofa::trainer {

torch::Tensor AtResolution(const torch::Tensor& x, int resolution) {
  if (x.size(2) == resolution && x.size(3) == resolution) return x;
  return torch::nn::functional::interpolate(
      x, torch::nn::functional::InterpolateFuncOptions()
             .size(std::vector<int64_t>{resolution, resolution})
             .mode(torch::kBilinear)
             .align_corners(false));
}

void RecalibrateBatchNorm(OfaSupernet& model, const SubnetChoice& choice,
                          const ImageDataset& train, int calibration_batches,
                          int64_t batch_size, uint64_t seed) {
  torch::NoGradGuard no_grad;
  BatchLoader loader(train, {.batch_size = batch_size, .seed = seed ^ 0xbadc0ffeULL, .train = true});
  model->train();
  model->BeginBatchNormRecalibration();
  for (int i = 0; i < calibration_batches; ++i) {
    model(AtResolution(loader.Next().images, choice.resolution), choice);
  }
  model->EndBatchNormRecalibration();
}

BatchNormStatisticsGuard::BatchNormStatisticsGuard(OfaSupernet& model)
    : model_(model), was_training_(model->is_training()) {
  for (const torch::Tensor& b : model_->buffers()) saved_.push_back(b.clone());
}

BatchNormStatisticsGuard::~BatchNormStatisticsGuard() {
  torch::NoGradGuard no_grad;
  auto buffers = model_->buffers();
  for (size_t i = 0; i < buffers.size(); ++i) buffers[i].copy_(saved_[i]);
  model_->train(was_training_);
}

EvalResult EvaluateSubnet(OfaSupernet& model, const SubnetChoice& choice,
                          const ImageDataset& train, const ImageDataset& test,
                          int calibration_batches, int64_t batch_size, uint64_t seed) {
  BatchNormStatisticsGuard restore(model);
  RecalibrateBatchNorm(model, choice, train, calibration_batches, batch_size, seed);
  model->eval();
  EvalResult result;
  {
    torch::NoGradGuard no_grad;
    BatchLoader loader(test, {.batch_size = batch_size, .seed = seed, .train = false});
    double loss_sum = 0;
    int64_t correct = 0;
    for (int64_t i = 0; i < loader.batches_per_epoch(); ++i) {
      Batch batch = loader.Next();
      torch::Tensor logits = model(AtResolution(batch.images, choice.resolution), choice);
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, batch.labels,
                      torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      correct += logits.argmax(1).eq(batch.labels).sum().item<int64_t>();
      result.images += batch.labels.size(0);
    }
    result.top1 = result.images > 0 ? static_cast<double>(correct) / result.images : 0;
    result.loss = result.images > 0 ? loss_sum / result.images : 0;
  }
  return result;
}

}  // namespace ofa::trainer
