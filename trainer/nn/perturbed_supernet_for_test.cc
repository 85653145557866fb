#include "trainer/nn/perturbed_supernet_for_test.h"

#include <string>

namespace ofa::trainer {

OfaSupernet PerturbedSupernet(const SupernetArchitecture& arch, uint64_t seed) {
  torch::manual_seed(seed);
  OfaSupernet net(arch);
  torch::NoGradGuard no_grad;
  for (auto& item : net->named_parameters()) {
    if (item.key().find("transform") != std::string::npos || item.value().dim() == 1) {
      item.value().add_(torch::randn_like(item.value()) * 0.1);
    }
  }
  for (auto& item : net->named_buffers()) {
    if (item.key().find("running_mean") != std::string::npos) {
      item.value().copy_(torch::randn_like(item.value()) * 0.1);
    } else if (item.key().find("running_var") != std::string::npos) {
      item.value().copy_(torch::rand_like(item.value()) + 0.5);
    }
  }
  net->eval();
  return net;
}

}  // namespace ofa::trainer
