#ifndef OFA_TRAINER_NN_ELASTIC_MBCONV_H_
#define OFA_TRAINER_NN_ELASTIC_MBCONV_H_

#include <vector>

#include <torch/torch.h>

#include "trainer/nn/dynamic_batch_norm.h"
#include "trainer/nn/dynamic_conv2d.h"
#include "trainer/nn/dynamic_depthwise_conv.h"
#include "trainer/nn/dynamic_squeeze_excite.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

// Applies ReLU or h-swish.
torch::Tensor Activate(const torch::Tensor& x, bool hswish);

// An inverted-bottleneck (MobileNetV3) block with elastic kernel size and expand ratio:
// 1x1 expand + BN + act, depthwise kxk + BN + act, optional SE, 1x1 project + BN, and a
// residual connection when the layout allows one. With expand ratios {1} there is no expand
// convolution (the fixed first block of OFA-MobileNetV3).
class ElasticMBConvImpl : public torch::nn::Module {
 public:
  ElasticMBConvImpl(const BlockLayout& layout, const std::vector<int>& kernel_sizes,
                    const std::vector<int>& expand_ratios);

  torch::Tensor forward(const torch::Tensor& x, int kernel_size, int expand_ratio);

  // Reorders the middle channels by importance (L1 norm of their projection weights,
  // largest first) so that a smaller expand ratio keeps the most important channels (OFA
  // paper, section 3.2, elastic width). Channels are only reordered within the bands whose
  // edges are the middle widths of `kept_expand_ratios`, so a later expand phase keeps what
  // an earlier one trained. Call between phases; optimizer state is not permuted.
  void SortChannelsByImportance(const std::vector<int>& kept_expand_ratios);

  const BlockLayout& layout() const { return layout_; }
  bool has_expand() const { return !expand_conv.is_empty(); }

  DynamicConv2d expand_conv{nullptr};
  DynamicBatchNorm expand_bn{nullptr};
  DynamicDepthwiseConv depthwise{nullptr};
  DynamicBatchNorm depthwise_bn{nullptr};
  DynamicSqueezeExcite squeeze_excite{nullptr};
  DynamicConv2d project{nullptr};
  DynamicBatchNorm project_bn{nullptr};

 private:
  BlockLayout layout_;
};
TORCH_MODULE(ElasticMBConv);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_ELASTIC_MBCONV_H_
