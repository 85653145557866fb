#include "trainer/nn/standalone_subnet.h"

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "trainer/nn/elastic_mbconv.h"
#include "trainer/nn/module_tensors.h"

namespace ofa::trainer {
namespace {

constexpr const char* kFormat = "ofa-train.subnet.v1";

torch::nn::Conv2d Conv(int in, int out, int kernel, int stride, int groups = 1) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                               .stride(stride)
                               .padding(kernel / 2)
                               .groups(groups)
                               .bias(false));
}

torch::nn::BatchNorm2d BatchNorm(int channels) {
  return torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(channels).momentum(0.1).eps(1e-5));
}

}  // namespace

nlohmann::json StandaloneLayout::ToJson() const {
  nlohmann::json blocks_json = nlohmann::json::array();
  for (const StandaloneBlockLayout& b : blocks) {
    blocks_json.push_back({{"in_channels", b.in_channels},
                           {"mid_channels", b.mid_channels},
                           {"out_channels", b.out_channels},
                           {"kernel_size", b.kernel_size},
                           {"stride", b.stride},
                           {"has_expand", b.has_expand},
                           {"hswish", b.hswish},
                           {"squeeze_channels", b.squeeze_channels}});
  }
  return {{"format", kFormat},
          {"input_channels", input_channels},
          {"resolution", resolution},
          {"num_classes", num_classes},
          {"stem_channels", stem_channels},
          {"stem_stride", stem_stride},
          {"blocks", blocks_json},
          {"final_expand_channels", final_expand_channels},
          {"last_channel", last_channel},
          {"metadata", metadata}};
}

absl::StatusOr<StandaloneLayout> StandaloneLayout::FromJson(const nlohmann::json& json) {
  StandaloneLayout layout;
  // Reads a positive integer field, naming it on error.
  std::string error;
  auto positive = [&](const nlohmann::json& object, const char* field, int* out,
                      const std::string& path) {
    if (!error.empty()) return;
    if (!object.contains(field) || !object[field].is_number_integer() ||
        object[field].get<int64_t>() <= 0 || object[field].get<int64_t>() > 1 << 20) {
      error = absl::StrCat(path, field, ": want a positive integer");
      return;
    }
    *out = object[field].get<int>();
  };
  if (!json.is_object() || json.value("format", "") != kFormat) {
    return absl::InvalidArgumentError(absl::StrCat("format: want \"", kFormat, "\""));
  }
  positive(json, "input_channels", &layout.input_channels, "");
  positive(json, "resolution", &layout.resolution, "");
  positive(json, "num_classes", &layout.num_classes, "");
  positive(json, "stem_channels", &layout.stem_channels, "");
  positive(json, "stem_stride", &layout.stem_stride, "");
  positive(json, "final_expand_channels", &layout.final_expand_channels, "");
  positive(json, "last_channel", &layout.last_channel, "");
  if (error.empty() && (!json.contains("blocks") || !json["blocks"].is_array() ||
                        json["blocks"].empty() || json["blocks"].size() > 256)) {
    error = "blocks: want a non-empty array of at most 256 blocks";
  }
  for (size_t i = 0; error.empty() && i < json["blocks"].size(); ++i) {
    const nlohmann::json& b = json["blocks"][i];
    const std::string path = absl::StrCat("blocks[", i, "].");
    StandaloneBlockLayout block;
    if (!b.is_object()) {
      error = absl::StrCat(path, ": want an object");
      break;
    }
    positive(b, "in_channels", &block.in_channels, path);
    positive(b, "mid_channels", &block.mid_channels, path);
    positive(b, "out_channels", &block.out_channels, path);
    positive(b, "kernel_size", &block.kernel_size, path);
    positive(b, "stride", &block.stride, path);
    block.has_expand = b.value("has_expand", true);
    block.hswish = b.value("hswish", false);
    block.squeeze_channels = b.value("squeeze_channels", 0);
    if (error.empty() && block.kernel_size % 2 == 0) {
      error = absl::StrCat(path, "kernel_size: want an odd size");
    }
    if (error.empty() && i > 0 && block.in_channels != layout.blocks.back().out_channels) {
      error = absl::StrCat(path, "in_channels: want the previous block's out_channels");
    }
    layout.blocks.push_back(block);
  }
  if (!error.empty()) return absl::InvalidArgumentError(error);
  if (json.contains("metadata")) layout.metadata = json["metadata"];
  return layout;
}

StandaloneBlockImpl::StandaloneBlockImpl(const StandaloneBlockLayout& layout) : layout_(layout) {
  const StandaloneBlockLayout& l = layout_;
  if (l.has_expand) {
    expand = register_module("expand", Conv(l.in_channels, l.mid_channels, 1, 1));
    expand_bn = register_module("expand_bn", BatchNorm(l.mid_channels));
  }
  depthwise = register_module(
      "depthwise", Conv(l.mid_channels, l.mid_channels, l.kernel_size, l.stride, l.mid_channels));
  depthwise_bn = register_module("depthwise_bn", BatchNorm(l.mid_channels));
  if (l.squeeze_channels > 0) {
    se_reduce = register_module("se_reduce", torch::nn::Linear(l.mid_channels, l.squeeze_channels));
    se_expand = register_module("se_expand", torch::nn::Linear(l.squeeze_channels, l.mid_channels));
  }
  project = register_module("project", Conv(l.mid_channels, l.out_channels, 1, 1));
  project_bn = register_module("project_bn", BatchNorm(l.out_channels));
}

torch::Tensor StandaloneBlockImpl::forward(const torch::Tensor& x) {
  const StandaloneBlockLayout& l = layout_;
  torch::Tensor y = x;
  if (l.has_expand) y = Activate(expand_bn(expand(y)), l.hswish);
  y = Activate(depthwise_bn(depthwise(y)), l.hswish);
  if (l.squeeze_channels > 0) {
    torch::Tensor s = torch::hardsigmoid(se_expand(torch::relu(se_reduce(y.mean({2, 3})))));
    y = y * s.view({s.size(0), s.size(1), 1, 1});
  }
  y = project_bn(project(y));
  return l.residual() ? y + x : y;
}

StandaloneSubnetImpl::StandaloneSubnetImpl(StandaloneLayout layout)
    : layout_(std::move(layout)) {
  stem = register_module("stem", Conv(layout_.input_channels, layout_.stem_channels, 3,
                                      layout_.stem_stride));
  stem_bn = register_module("stem_bn", BatchNorm(layout_.stem_channels));
  torch::nn::ModuleList block_list;
  for (const StandaloneBlockLayout& l : layout_.blocks) {
    blocks.push_back(StandaloneBlock(l));
    block_list->push_back(blocks.back());
  }
  register_module("blocks", block_list);
  const int last_block_channels = layout_.blocks.back().out_channels;
  final_expand = register_module("final_expand",
                                 Conv(last_block_channels, layout_.final_expand_channels, 1, 1));
  final_expand_bn = register_module("final_expand_bn", BatchNorm(layout_.final_expand_channels));
  feature_mix = register_module(
      "feature_mix", Conv(layout_.final_expand_channels, layout_.last_channel, 1, 1));
  classifier = register_module("classifier",
                               torch::nn::Linear(layout_.last_channel, layout_.num_classes));
}

torch::Tensor StandaloneSubnetImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = torch::hardswish(stem_bn(stem(x)));
  for (StandaloneBlock& block : blocks) y = block(y);
  y = torch::hardswish(final_expand_bn(final_expand(y)));
  y = torch::hardswish(feature_mix(y.mean({2, 3}, /*keepdim=*/true))).flatten(1);
  return classifier(y);
}

int64_t StandaloneSubnetImpl::NumParameters() const {
  int64_t total = 0;
  for (const torch::Tensor& p : parameters()) total += p.numel();
  return total;
}

absl::Status SaveStandaloneSubnet(StandaloneSubnet& subnet, const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir, ": ", ec.message()));
  const fs::path json_path = fs::path(dir) / "architecture.json";
  const fs::path weights_path = fs::path(dir) / "weights.pt";
  try {
    torch::serialize::OutputArchive archive;
    WriteModuleTensors(*subnet, archive);
    archive.save_to(weights_path.string() + ".tmp");
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("writing ", weights_path.string(), ": ", e.what()));
  }
  {
    std::ofstream out(json_path.string() + ".tmp");
    out << subnet->layout().ToJson().dump(2) << "\n";
    if (!out.flush()) return absl::InternalError(absl::StrCat("writing ", json_path.string()));
  }
  fs::rename(weights_path.string() + ".tmp", weights_path, ec);
  if (!ec) fs::rename(json_path.string() + ".tmp", json_path, ec);
  if (ec) return absl::InternalError(absl::StrCat("renaming into ", dir, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<StandaloneSubnet> LoadStandaloneSubnet(const std::string& dir) {
  const std::string json_path = dir + "/architecture.json";
  const std::string weights_path = dir + "/weights.pt";
  std::ifstream in(json_path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", json_path));
  nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return absl::InvalidArgumentError(json_path + ": not valid JSON");
  absl::StatusOr<StandaloneLayout> layout = StandaloneLayout::FromJson(json);
  if (!layout.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(json_path, ": ", layout.status().message()));
  }
  StandaloneSubnet subnet(std::move(*layout));
  try {
    torch::serialize::InputArchive archive;
    archive.load_from(weights_path);
    ReadModuleTensors(*subnet, archive);
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(weights_path, ": does not match ", json_path, ": ", e.what()));
  }
  subnet->eval();
  return subnet;
}

}  // namespace ofa::trainer
