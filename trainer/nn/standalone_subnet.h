#ifndef OFA_TRAINER_NN_STANDALONE_SUBNET_H_
#define OFA_TRAINER_NN_STANDALONE_SUBNET_H_

#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ofa::trainer {

// The fixed shape of one MBConv block of an exported sub-network.
struct StandaloneBlockLayout {
  int in_channels = 0;
  int mid_channels = 0;  // Equals in_channels when there is no expand convolution.
  int out_channels = 0;
  int kernel_size = 3;
  int stride = 1;
  bool has_expand = true;
  bool hswish = false;
  int squeeze_channels = 0;  // 0 = no squeeze-and-excitation.
  bool residual() const { return stride == 1 && in_channels == out_channels; }
};

// Everything needed to rebuild an exported sub-network without the supernet. Serialised as
// the architecture JSON written beside the weights.
struct StandaloneLayout {
  int input_channels = 3;
  int resolution = 224;
  int num_classes = 1000;
  int stem_channels = 16;
  int stem_stride = 2;
  std::vector<StandaloneBlockLayout> blocks;  // Including the fixed first block.
  int final_expand_channels = 960;
  int last_channel = 1280;
  // Free-form provenance (the SubnetChoice, cost, job) kept in the JSON.
  nlohmann::json metadata;

  nlohmann::json ToJson() const;
  // INVALID_ARGUMENT naming the field if the JSON is not a valid layout.
  static absl::StatusOr<StandaloneLayout> FromJson(const nlohmann::json& json);
};

// One fixed-shape MBConv block of a standalone network.
class StandaloneBlockImpl : public torch::nn::Module {
 public:
  explicit StandaloneBlockImpl(const StandaloneBlockLayout& layout);
  torch::Tensor forward(const torch::Tensor& x);

  const StandaloneBlockLayout& layout() const { return layout_; }

  torch::nn::Conv2d expand{nullptr};
  torch::nn::BatchNorm2d expand_bn{nullptr};
  torch::nn::Conv2d depthwise{nullptr};
  torch::nn::BatchNorm2d depthwise_bn{nullptr};
  torch::nn::Linear se_reduce{nullptr};
  torch::nn::Linear se_expand{nullptr};
  torch::nn::Conv2d project{nullptr};
  torch::nn::BatchNorm2d project_bn{nullptr};

 private:
  StandaloneBlockLayout layout_;
};
TORCH_MODULE(StandaloneBlock);

// A plain LibTorch model of fixed shape: what a deployment target runs. Built from a layout
// with freshly initialised weights; ExportSubnet fills them from a supernet.
class StandaloneSubnetImpl : public torch::nn::Module {
 public:
  explicit StandaloneSubnetImpl(StandaloneLayout layout);

  // Logits [N, num_classes]; eval mode uses the stored BN statistics.
  torch::Tensor forward(const torch::Tensor& x);

  const StandaloneLayout& layout() const { return layout_; }
  // Provenance written with the architecture (e.g. the input normalisation, see
  // SubnetClassifier).
  nlohmann::json& mutable_metadata() { return layout_.metadata; }
  int64_t NumParameters() const;

  torch::nn::Conv2d stem{nullptr};
  torch::nn::BatchNorm2d stem_bn{nullptr};
  std::vector<StandaloneBlock> blocks;
  torch::nn::Conv2d final_expand{nullptr};
  torch::nn::BatchNorm2d final_expand_bn{nullptr};
  torch::nn::Conv2d feature_mix{nullptr};
  torch::nn::Linear classifier{nullptr};

 private:
  StandaloneLayout layout_;
};
TORCH_MODULE(StandaloneSubnet);

// Writes DIR/architecture.json and DIR/weights.pt (creating DIR), each first to a temporary
// name then renamed, so a crash never leaves a half-written export that looks complete.
absl::Status SaveStandaloneSubnet(StandaloneSubnet& subnet, const std::string& dir);

// Loads what SaveStandaloneSubnet wrote; NOT_FOUND / INVALID_ARGUMENT name the bad file.
absl::StatusOr<StandaloneSubnet> LoadStandaloneSubnet(const std::string& dir);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_STANDALONE_SUBNET_H_
