#include <chrono>
#include <cstdio>
#include <torch/torch.h>
#include "trainer/nn/ofa_supernet.h"
using namespace ofa::trainer;
int main(int argc, char** argv) {
  torch::set_num_threads(2);
  ofa::v1::SupernetSpec spec; spec.set_preset(argv[1]); if (argc > 3) spec.set_width_multiplier(atof(argv[3]));
  auto arch = SupernetArchitecture::FromSpec(spec).value();
  OfaSupernet net(arch);
  int res = atoi(argv[2]);
  auto x = torch::randn({128, arch.input_channels, res, res});
  auto y = torch::randint(0, 10, {128});
  torch::optim::SGD opt(net->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));
  auto k5 = arch.Largest(); for (int& k : k5.kernel_sizes) k = getenv("K") ? atoi(getenv("K")) : 5;
  for (auto c : {arch.Largest(), k5, arch.Smallest()}) {
    c.resolution = res;
    for (int i = 0; i < 3; ++i) { opt.zero_grad(); torch::cross_entropy_loss(net(x, c), y).backward(); opt.step(); }
    auto t0 = std::chrono::steady_clock::now(); int n = 10;
    for (int i = 0; i < n; ++i) { opt.zero_grad(); torch::cross_entropy_loss(net(x, c), y).backward(); opt.step(); }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    printf("%s train %.0f img/s\n", c.ToString().c_str(), n * 128 / s);
  }
}
