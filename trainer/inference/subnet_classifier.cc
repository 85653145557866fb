#include "trainer/inference/subnet_classifier.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trainer/checkpoint/checkpoint_store.h"

namespace ofa::trainer {
namespace {

std::string Shape(const torch::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ", "), "]"); }

}  // namespace

void RecordInputNormalization(StandaloneSubnet& subnet, const std::vector<float>& mean,
                              const std::vector<float>& std) {
  subnet->mutable_metadata()["input_mean"] = mean;
  subnet->mutable_metadata()["input_std"] = std;
}

absl::StatusOr<SubnetClassifier> SubnetClassifier::Load(const std::string& dir,
                                                        const std::string& expected_sha256) {
  const std::string weights = (std::filesystem::path(dir) / "weights.pt").string();
  if (!expected_sha256.empty()) {
    absl::StatusOr<std::string> sha = Sha256OfFile(weights);
    if (!sha.ok()) return sha.status();
    if (*sha != expected_sha256) {
      return absl::DataLossError(absl::StrCat(weights, ": SHA-256 is ", *sha, ", expected ",
                                              expected_sha256, " (a different or damaged file)"));
    }
  }
  absl::StatusOr<StandaloneSubnet> model = LoadStandaloneSubnet(dir);
  if (!model.ok()) return model.status();
  const nlohmann::json& meta = (*model)->layout().metadata;
  const int channels = (*model)->layout().input_channels;
  std::vector<float> mean, std;
  try {
    mean = meta.at("input_mean").get<std::vector<float>>();
    std = meta.at("input_std").get<std::vector<float>>();
  } catch (const nlohmann::json::exception&) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, "/architecture.json: metadata has no input_mean/input_std (the input normalisation "
             "used in training); export it again with this version"));
  }
  if (static_cast<int>(mean.size()) != channels || static_cast<int>(std.size()) != channels ||
      std::any_of(std.begin(), std.end(), [](float s) { return !(s > 0); })) {
    return absl::InvalidArgumentError(absl::StrCat(
        dir, "/architecture.json: input_mean/input_std need ", channels,
        " values each, standard deviations positive"));
  }
  torch::Tensor scale = torch::empty({1, channels, 1, 1}), bias = torch::empty({1, channels, 1, 1});
  for (int c = 0; c < channels; ++c) {
    scale[0][c] = 1.0f / (255.0f * std[c]);
    bias[0][c] = -mean[c] / std[c];
  }
  (*model)->eval();
  return SubnetClassifier(*std::move(model), scale, bias);
}

absl::StatusOr<torch::Tensor> SubnetClassifier::Logits(const torch::Tensor& images) {
  torch::Tensor x = images.dim() == 3 ? images.unsqueeze(0) : images;
  if (x.dim() != 4 || x.size(1) != channels() || x.size(0) == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "images: expected [N, ", channels(), ", H, W] or [", channels(), ", H, W], got ",
        Shape(images)));
  }
  if (x.scalar_type() != torch::kByte) {
    return absl::InvalidArgumentError(absl::StrCat("images: expected uint8 pixels, got ",
                                                   c10::toString(x.scalar_type())));
  }
  torch::NoGradGuard no_grad;
  x = x.to(torch::kFloat) * scale_ + bias_;
  if (x.size(2) != resolution() || x.size(3) != resolution()) {
    x = torch::nn::functional::interpolate(
        x, torch::nn::functional::InterpolateFuncOptions()
               .size(std::vector<int64_t>{resolution(), resolution()})
               .mode(torch::kBilinear)
               .align_corners(false));
  }
  return model_(x);
}

absl::StatusOr<std::vector<Prediction>> SubnetClassifier::Classify(const torch::Tensor& images) {
  absl::StatusOr<torch::Tensor> logits = Logits(images);
  if (!logits.ok()) return logits.status();
  const auto [probability, label] = torch::softmax(*logits, 1).max(1);
  std::vector<Prediction> out(label.size(0));
  for (int64_t i = 0; i < label.size(0); ++i) {
    out[i] = {static_cast<int>(label[i].item<int64_t>()), probability[i].item<double>()};
  }
  return out;
}

}  // namespace ofa::trainer
