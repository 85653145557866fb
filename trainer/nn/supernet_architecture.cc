#include "trainer/nn/supernet_architecture.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "trainer/spec/supernet_presets.h"

namespace ofa::trainer {

int MakeDivisible(double value, int divisor) {
  int rounded = std::max(divisor, static_cast<int>(value + divisor / 2.0) / divisor * divisor);
  if (rounded < 0.9 * value) rounded += divisor;
  return rounded;
}

int MiddleChannels(int in_channels, int expand_ratio) {
  return MakeDivisible(static_cast<double>(in_channels) * expand_ratio);
}

int SqueezeChannels(int channels) { return MakeDivisible(channels / 4); }

bool SubnetChoice::operator==(const SubnetChoice& other) const {
  return kernel_sizes == other.kernel_sizes && expand_ratios == other.expand_ratios &&
         depths == other.depths && resolution == other.resolution;
}

std::string SubnetChoice::ToString() const {
  return absl::StrCat("k[", absl::StrJoin(kernel_sizes, ","), "] e[",
                      absl::StrJoin(expand_ratios, ","), "] d[", absl::StrJoin(depths, ","),
                      "] r", resolution);
}

absl::StatusOr<SupernetArchitecture> SupernetArchitecture::FromPreset(
    const std::string& preset) {
  ofa::v1::SupernetSpec spec;
  spec.set_preset(preset);
  return FromSpec(spec);
}

absl::StatusOr<SupernetArchitecture> SupernetArchitecture::FromSpec(
    const ofa::v1::SupernetSpec& spec, int default_num_classes) {
  absl::StatusOr<const SupernetPreset*> found = FindSupernetPreset(spec.preset());
  if (!found.ok()) return found.status();
  absl::StatusOr<ofa::v1::SupernetSpec> resolved = ResolveSupernet(spec);
  if (!resolved.ok()) return resolved.status();
  const SupernetPreset& preset = **found;
  const double width = resolved->width_multiplier();
  auto scaled = [width](int base) { return MakeDivisible(base * width); };

  SupernetArchitecture arch;
  arch.input_channels = resolved->input_channels();
  arch.num_classes = resolved->num_classes() != 0 ? resolved->num_classes()
                     : default_num_classes != 0   ? default_num_classes
                                                  : preset.default_num_classes;
  arch.dropout_rate = resolved->dropout_rate();
  arch.kernel_sizes.assign(resolved->kernel_sizes().begin(), resolved->kernel_sizes().end());
  arch.expand_ratios.assign(resolved->expand_ratios().begin(), resolved->expand_ratios().end());
  arch.depths.assign(resolved->depths().begin(), resolved->depths().end());
  arch.resolutions.assign(resolved->resolutions().begin(), resolved->resolutions().end());
  if (arch.kernel_sizes.empty() || arch.expand_ratios.empty() || arch.depths.empty() ||
      arch.resolutions.empty()) {
    return absl::InvalidArgumentError("supernet: every elastic list needs at least one value");
  }
  arch.stem_channels = scaled(preset.stem_width);
  arch.stem_stride = preset.stem_stride;
  arch.first_block_channels = scaled(preset.first_block_width);
  // The paper's OFA-MobileNetV3 keeps the stem and first block at width 1.0 only for w1.0;
  // the authors' code scales them like every other stage, and so do we.
  int in_channels = arch.first_block_channels;
  const int max_depth = arch.depths.back();
  for (size_t s = 0; s < preset.stages.size(); ++s) {
    const StagePreset& stage = preset.stages[s];
    const int out_channels = scaled(stage.base_width);
    std::vector<int> indices;
    for (int i = 0; i < max_depth; ++i) {
      BlockLayout block;
      block.stage = static_cast<int>(s);
      block.in_channels = in_channels;
      block.out_channels = out_channels;
      block.stride = i == 0 ? stage.stride : 1;
      block.hswish = stage.hswish;
      block.squeeze_excite = stage.squeeze_excite;
      indices.push_back(static_cast<int>(arch.blocks.size()));
      arch.blocks.push_back(block);
      in_channels = out_channels;
    }
    arch.stage_blocks.push_back(std::move(indices));
  }
  arch.final_expand_channels = scaled(preset.final_expand_width);
  arch.last_channel = scaled(preset.last_channel);
  return arch;
}

SubnetChoice SupernetArchitecture::Largest() const {
  const int n = static_cast<int>(blocks.size());
  return {std::vector<int>(n, kernel_sizes.back()), std::vector<int>(n, expand_ratios.back()),
          std::vector<int>(num_stages(), depths.back()), resolutions.back()};
}

SubnetChoice SupernetArchitecture::Smallest() const {
  const int n = static_cast<int>(blocks.size());
  return {std::vector<int>(n, kernel_sizes.front()), std::vector<int>(n, expand_ratios.front()),
          std::vector<int>(num_stages(), depths.front()), resolutions.front()};
}

namespace {

absl::Status CheckList(const char* field, const std::vector<int>& values, size_t want_size,
                       const std::vector<int>& allowed) {
  if (values.size() != want_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": want ", want_size, " values, got ", values.size()));
  }
  for (size_t i = 0; i < values.size(); ++i) {
    if (std::find(allowed.begin(), allowed.end(), values[i]) == allowed.end()) {
      return absl::InvalidArgumentError(absl::StrCat(field, "[", i, "]: ", values[i],
                                                     " is not one of {",
                                                     absl::StrJoin(allowed, ","), "}"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status SupernetArchitecture::Check(const SubnetChoice& choice) const {
  if (absl::Status s = CheckList("kernel_sizes", choice.kernel_sizes, blocks.size(),
                                 kernel_sizes);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckList("expand_ratios", choice.expand_ratios, blocks.size(),
                                 expand_ratios);
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckList("depths", choice.depths, stage_blocks.size(), depths);
      !s.ok()) {
    return s;
  }
  return CheckList("resolution", {choice.resolution}, 1, resolutions);
}

ofa::v1::SubnetArch SupernetArchitecture::ToProto(const SubnetChoice& choice) const {
  ofa::v1::SubnetArch arch;
  arch.mutable_kernel_sizes()->Add(choice.kernel_sizes.begin(), choice.kernel_sizes.end());
  arch.mutable_expand_ratios()->Add(choice.expand_ratios.begin(), choice.expand_ratios.end());
  arch.mutable_depths()->Add(choice.depths.begin(), choice.depths.end());
  arch.set_resolution(choice.resolution);
  return arch;
}

absl::StatusOr<SubnetChoice> SupernetArchitecture::FromProto(
    const ofa::v1::SubnetArch& arch) const {
  SubnetChoice choice{{arch.kernel_sizes().begin(), arch.kernel_sizes().end()},
                      {arch.expand_ratios().begin(), arch.expand_ratios().end()},
                      {arch.depths().begin(), arch.depths().end()},
                      arch.resolution()};
  if (absl::Status s = Check(choice); !s.ok()) return s;
  return choice;
}

}  // namespace ofa::trainer
