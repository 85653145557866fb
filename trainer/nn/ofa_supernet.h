#ifndef OFA_TRAINER_NN_OFA_SUPERNET_H_
#define OFA_TRAINER_NN_OFA_SUPERNET_H_

#include <vector>

#include <torch/torch.h>

#include "trainer/nn/dynamic_batch_norm.h"
#include "trainer/nn/dynamic_conv2d.h"
#include "trainer/nn/dynamic_linear.h"
#include "trainer/nn/elastic_mbconv.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

// The once-for-all supernet (OFA-MobileNetV3 layout): stem conv, a fixed first block, stages
// of elastic MBConv blocks, final 1x1 expand, global pooling, 1x1 feature mix, classifier.
// Which sub-network runs is an argument of forward, not module state, so one instance can
// serve several sub-networks in a step and nothing needs resetting. Not thread-safe.
class OfaSupernetImpl : public torch::nn::Module {
 public:
  explicit OfaSupernetImpl(SupernetArchitecture arch);

  // Logits [N, num_classes] of `choice` on `x` [N, C, H, W]. Stages run only their first
  // choice.depths[s] blocks (elastic depth). `x` must already be at the wanted resolution.
  torch::Tensor forward(const torch::Tensor& x, const SubnetChoice& choice);

  // See ElasticMBConvImpl::SortChannelsByImportance; applies to every elastic block.
  void SortChannelsByImportance(const std::vector<int>& kept_expand_ratios);

  // BN recalibration of a sub-network: Begin resets every BN's statistics and makes the
  // following training-mode forwards accumulate a cumulative average; End restores the usual
  // exponential average.
  void BeginBatchNormRecalibration();
  void EndBatchNormRecalibration();

  const SupernetArchitecture& architecture() const { return arch_; }

  DynamicConv2d stem{nullptr};
  DynamicBatchNorm stem_bn{nullptr};
  ElasticMBConv first_block{nullptr};
  std::vector<ElasticMBConv> blocks;
  DynamicConv2d final_expand{nullptr};
  DynamicBatchNorm final_expand_bn{nullptr};
  DynamicConv2d feature_mix{nullptr};
  torch::nn::Dropout dropout{nullptr};
  DynamicLinear classifier{nullptr};

 private:
  SupernetArchitecture arch_;
};
TORCH_MODULE(OfaSupernet);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_OFA_SUPERNET_H_
