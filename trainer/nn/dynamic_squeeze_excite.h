#ifndef OFA_TRAINER_NN_DYNAMIC_SQUEEZE_EXCITE_H_
#define OFA_TRAINER_NN_DYNAMIC_SQUEEZE_EXCITE_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// Squeeze-and-excitation over elastic channels (MobileNetV3's: reduction 4 rounded to a
// multiple of 8, ReLU, hard sigmoid). With C input channels it uses the first
// SqueezeChannels(C) hidden units.
class DynamicSqueezeExciteImpl : public torch::nn::Module {
 public:
  explicit DynamicSqueezeExciteImpl(int64_t max_channels);

  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor reduce_weight, reduce_bias;  // [max_squeeze, max_channels], [max_squeeze]
  torch::Tensor expand_weight, expand_bias;  // [max_channels, max_squeeze], [max_channels]
};
TORCH_MODULE(DynamicSqueezeExcite);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DYNAMIC_SQUEEZE_EXCITE_H_
