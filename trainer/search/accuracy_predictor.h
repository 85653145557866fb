#ifndef OFA_TRAINER_SEARCH_ACCURACY_PREDICTOR_H_
#define OFA_TRAINER_SEARCH_ACCURACY_PREDICTOR_H_

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

// One measured sub-network: its top-1 on the validation split after BN recalibration.
struct AccuracySample {
  SubnetChoice choice;
  double top1 = 0;
};

struct PredictorTraining {
  // Three hidden layers as in the OFA authors' predictor, narrower (they use 400 for a
  // search space of 20 blocks; 128 fits these and trains 10x faster on a CPU).
  int hidden_units = 128;
  int epochs = 300;
  int64_t batch_size = 64;
  double learning_rate = 3e-3;  // Adam; 3e-3 ranked held-out samples best in a sweep.
  // The last fraction of the samples is held out to measure the predictor.
  double holdout_fraction = 0.2;
  uint64_t seed = 0;
};

// How well the predictor ranks and fits the held-out samples.
struct PredictorQuality {
  int train_samples = 0;
  int holdout_samples = 0;
  double holdout_rmse = 0;  // In top-1 fraction units.
  double holdout_kendall_tau = 0;
};

// The OFA paper's accuracy predictor (section 3.3): an MLP from the architecture encoding to
// top-1, trained on measured sub-networks, so the evolutionary search can score thousands of
// candidates without evaluating any. Predictions are top-1 fractions.
class AccuracyPredictor {
 public:
  // INVALID_ARGUMENT with fewer than 10 samples or a choice that does not fit `arch`.
  static absl::StatusOr<AccuracyPredictor> Train(const SupernetArchitecture& arch,
                                                 const std::vector<AccuracySample>& samples,
                                                 const PredictorTraining& options,
                                                 PredictorQuality* quality = nullptr);

  std::vector<double> Predict(const std::vector<SubnetChoice>& choices) const;
  double Predict(const SubnetChoice& choice) const { return Predict(std::vector<SubnetChoice>{choice})[0]; }

 private:
  AccuracyPredictor(const SupernetArchitecture& arch, torch::nn::Sequential mlp, double base)
      : arch_(arch), mlp_(std::move(mlp)), base_(base) {}
  torch::Tensor Encode(const std::vector<SubnetChoice>& choices) const;

  SupernetArchitecture arch_;
  mutable torch::nn::Sequential mlp_;  // forward() is not const.
  double base_;  // Mean top-1 of the training samples; the MLP predicts the difference.
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SEARCH_ACCURACY_PREDICTOR_H_
