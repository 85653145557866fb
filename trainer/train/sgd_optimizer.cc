#include "trainer/train/sgd_optimizer.h"

#include <string>
#include <vector>

#include "absl/strings/match.h"

namespace ofa::trainer {
namespace {

bool NoWeightDecay(const std::string& name) {
  return absl::StrContains(name, "bn") || absl::StrContains(name, "bias");
}

}  // namespace

std::unique_ptr<torch::optim::SGD> MakeSgdOptimizer(OfaSupernet& model, double momentum,
                                                    double weight_decay) {
  std::vector<torch::Tensor> decay, no_decay;
  for (const auto& item : model->named_parameters()) {
    (NoWeightDecay(item.key()) ? no_decay : decay).push_back(item.value());
  }
  auto options = [&](double wd) {
    return std::make_unique<torch::optim::SGDOptions>(
        torch::optim::SGDOptions(0).momentum(momentum).nesterov(true).weight_decay(wd));
  };
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(decay, options(weight_decay));
  groups.emplace_back(no_decay, options(0));
  return std::make_unique<torch::optim::SGD>(groups, torch::optim::SGDOptions(0));
}

void SetLearningRate(torch::optim::SGD& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) {
    static_cast<torch::optim::SGDOptions&>(group.options()).lr(lr);
  }
}

}  // namespace ofa::trainer
