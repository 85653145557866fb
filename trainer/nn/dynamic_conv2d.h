#ifndef OFA_TRAINER_NN_DYNAMIC_CONV2D_H_
#define OFA_TRAINER_NN_DYNAMIC_CONV2D_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// A dense convolution with a fixed kernel whose input and output channels are elastic: a
// sub-network uses the first `in` x `out` filters (the OFA pointwise conv when kernel is 1).
// Slicing is a view; no weights are copied per step.
class DynamicConv2dImpl : public torch::nn::Module {
 public:
  DynamicConv2dImpl(int64_t max_in_channels, int64_t max_out_channels, int kernel_size = 1,
                    int stride = 1);

  // `x` has in <= max_in_channels channels; returns `out_channels` channels.
  torch::Tensor forward(const torch::Tensor& x, int64_t out_channels);

  // The [out, in, k, k] filters a sub-network uses (a view).
  torch::Tensor ActiveWeight(int64_t out_channels, int64_t in_channels) const;

  int kernel_size() const { return kernel_size_; }
  int stride() const { return stride_; }
  int64_t max_out_channels() const { return weight.size(0); }

  torch::Tensor weight;  // [max_out, max_in, k, k]

 private:
  int kernel_size_;
  int stride_;
};
TORCH_MODULE(DynamicConv2d);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DYNAMIC_CONV2D_H_
