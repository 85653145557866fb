#include "trainer/search/accuracy_predictor.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "trainer/search/arch_encoding.h"

namespace ofa::trainer {
namespace {

// Kendall's tau-a: how often the predictor orders two sub-networks as measured.
double KendallTau(const std::vector<double>& a, const std::vector<double>& b) {
  int64_t concordant = 0, discordant = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    for (size_t j = i + 1; j < a.size(); ++j) {
      const double s = (a[i] - a[j]) * (b[i] - b[j]);
      if (s > 0) ++concordant;
      if (s < 0) ++discordant;
    }
  }
  const int64_t pairs = static_cast<int64_t>(a.size()) * (a.size() - 1) / 2;
  return pairs > 0 ? static_cast<double>(concordant - discordant) / pairs : 0;
}

}  // namespace

torch::Tensor AccuracyPredictor::Encode(const std::vector<SubnetChoice>& choices) const {
  const int64_t width = EncodingSize(arch_);
  torch::Tensor x = torch::zeros({static_cast<int64_t>(choices.size()), width});
  auto rows = x.accessor<float, 2>();
  for (size_t i = 0; i < choices.size(); ++i) {
    const std::vector<float> code = EncodeArchitecture(arch_, choices[i]);
    for (int64_t j = 0; j < width; ++j) rows[i][j] = code[j];
  }
  return x;
}

absl::StatusOr<AccuracyPredictor> AccuracyPredictor::Train(
    const SupernetArchitecture& arch, const std::vector<AccuracySample>& samples,
    const PredictorTraining& options, PredictorQuality* quality) {
  if (samples.size() < 10) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the accuracy predictor needs at least 10 measured sub-networks, got ", samples.size()));
  }
  for (const AccuracySample& s : samples) {
    if (absl::Status ok = arch.Check(s.choice); !ok.ok()) return ok;
  }
  const int holdout = static_cast<int>(samples.size() * options.holdout_fraction);
  const int train_count = static_cast<int>(samples.size()) - holdout;
  double base = 0;
  for (int i = 0; i < train_count; ++i) base += samples[i].top1;
  base /= train_count;

  torch::manual_seed(options.seed);
  const int64_t h = options.hidden_units;
  torch::nn::Sequential mlp(torch::nn::Linear(EncodingSize(arch), h), torch::nn::ReLU(),
                            torch::nn::Linear(h, h), torch::nn::ReLU(), torch::nn::Linear(h, h),
                            torch::nn::ReLU(),
                            torch::nn::Linear(torch::nn::LinearOptions(h, 1).bias(false)));
  AccuracyPredictor predictor(arch, mlp, base);

  std::vector<SubnetChoice> choices;
  std::vector<float> targets;
  for (int i = 0; i < train_count; ++i) {
    choices.push_back(samples[i].choice);
    targets.push_back(static_cast<float>(samples[i].top1 - base));
  }
  const torch::Tensor x = predictor.Encode(choices);
  const torch::Tensor y = torch::tensor(targets).unsqueeze(1);
  torch::optim::Adam optimizer(mlp->parameters(), torch::optim::AdamOptions(options.learning_rate));
  mlp->train();
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    const torch::Tensor order = torch::randperm(train_count, torch::kLong);
    for (int64_t start = 0; start < train_count; start += options.batch_size) {
      const torch::Tensor index =
          order.slice(0, start, std::min<int64_t>(start + options.batch_size, train_count));
      optimizer.zero_grad();
      torch::Tensor loss = torch::mse_loss(mlp->forward(x.index_select(0, index)),
                                           y.index_select(0, index));
      loss.backward();
      optimizer.step();
    }
  }
  mlp->eval();

  if (quality != nullptr) {
    *quality = PredictorQuality{};
    quality->train_samples = train_count;
    quality->holdout_samples = holdout;
    if (holdout > 0) {
      std::vector<SubnetChoice> held;
      std::vector<double> measured;
      for (int i = train_count; i < static_cast<int>(samples.size()); ++i) {
        held.push_back(samples[i].choice);
        measured.push_back(samples[i].top1);
      }
      const std::vector<double> predicted = predictor.Predict(held);
      double squared = 0;
      for (int i = 0; i < holdout; ++i) {
        squared += (predicted[i] - measured[i]) * (predicted[i] - measured[i]);
      }
      quality->holdout_rmse = std::sqrt(squared / holdout);
      quality->holdout_kendall_tau = KendallTau(predicted, measured);
    }
  }
  return predictor;
}

std::vector<double> AccuracyPredictor::Predict(const std::vector<SubnetChoice>& choices) const {
  if (choices.empty()) return {};
  torch::NoGradGuard no_grad;
  const torch::Tensor out = mlp_->forward(Encode(choices)).squeeze(1).to(torch::kDouble);
  std::vector<double> result(out.data_ptr<double>(), out.data_ptr<double>() + out.numel());
  for (double& r : result) r += base_;
  return result;
}

}  // namespace ofa::trainer
