#ifndef OFA_TRAINER_NN_DYNAMIC_DEPTHWISE_CONV_H_
#define OFA_TRAINER_NN_DYNAMIC_DEPTHWISE_CONV_H_

#include <cstdint>
#include <map>
#include <vector>

#include <torch/torch.h>

namespace ofa::trainer {

// Depthwise convolution with an elastic kernel size and elastic channels (OFA paper, section
// 3.2, "elastic kernel size"). The largest kernel's weights are stored; a smaller kernel is
// the centre of the next larger one passed through a learned per-layer transformation matrix
// (7x7 -> centre 5x5 -> 25x25 matrix -> 5x5 -> centre 3x3 -> 9x9 matrix -> 3x3), shared by all
// channels. The matrices start as identity.
class DynamicDepthwiseConvImpl : public torch::nn::Module {
 public:
  // `kernel_sizes` ascending, odd.
  DynamicDepthwiseConvImpl(int64_t max_channels, std::vector<int> kernel_sizes, int stride);

  // `x` has channels <= max_channels.
  torch::Tensor forward(const torch::Tensor& x, int kernel_size);

  // The [channels, 1, k, k] filters for `kernel_size` (a view when k is the largest).
  torch::Tensor ActiveFilter(int64_t channels, int kernel_size) const;

  const std::vector<int>& kernel_sizes() const { return kernel_sizes_; }
  int stride() const { return stride_; }

  torch::Tensor weight;  // [max_channels, 1, kmax, kmax]

 private:
  std::vector<int> kernel_sizes_;
  int stride_;
  // Keyed by the smaller kernel size: transforms_[5] maps the centre 5x5 of the 7x7 filter.
  std::map<int, torch::Tensor> transforms_;
};
TORCH_MODULE(DynamicDepthwiseConv);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DYNAMIC_DEPTHWISE_CONV_H_
