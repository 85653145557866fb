#ifndef OFA_TRAINER_INFERENCE_SUBNET_CLASSIFIER_H_
#define OFA_TRAINER_INFERENCE_SUBNET_CLASSIFIER_H_

#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "trainer/nn/standalone_subnet.h"

namespace ofa::trainer {

// Writes the input normalisation a classifier needs into an export's metadata: per-channel
// mean and standard deviation of the training pixels scaled to [0, 1].
void RecordInputNormalization(StandaloneSubnet& subnet, const std::vector<float>& mean,
                              const std::vector<float>& std);

struct Prediction {
  int label = 0;
  double probability = 0;
};

// The small inference API of an exported sub-network (export/<target>/ of a job): load it,
// give it images as they come (uint8 pixels), get classes. Thread-compatible: Classify may be
// called from several threads only with separate instances.
class SubnetClassifier {
 public:
  // Loads DIR/architecture.json and DIR/weights.pt. With `expected_sha256` (Subnet's
  // weights_sha256), the weights must match it. NOT_FOUND / INVALID_ARGUMENT / DATA_LOSS name
  // the file and what is wrong.
  static absl::StatusOr<SubnetClassifier> Load(const std::string& dir,
                                               const std::string& expected_sha256 = "");

  // Logits [N, classes] of uint8 images [N, C, H, W] (or [C, H, W] for one), normalised as in
  // training and resized (bilinear) to the sub-network's resolution if they differ.
  absl::StatusOr<torch::Tensor> Logits(const torch::Tensor& images);
  // The most probable class of each image and its softmax probability.
  absl::StatusOr<std::vector<Prediction>> Classify(const torch::Tensor& images);

  int resolution() const { return model_->layout().resolution; }
  int channels() const { return model_->layout().input_channels; }
  int num_classes() const { return model_->layout().num_classes; }

 private:
  SubnetClassifier(StandaloneSubnet model, torch::Tensor scale, torch::Tensor bias)
      : model_(std::move(model)), scale_(std::move(scale)), bias_(std::move(bias)) {}

  StandaloneSubnet model_;
  torch::Tensor scale_, bias_;  // [1, C, 1, 1]: x / 255 normalised = x * scale + bias.
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_INFERENCE_SUBNET_CLASSIFIER_H_
