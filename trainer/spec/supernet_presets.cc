#include "trainer/spec/supernet_presets.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ofa::trainer {

const std::vector<SupernetPreset>& SupernetPresets() {
  // OFA-MobileNetV3 (Cai et al. 2020, section 4): k {3,5,7}, e {3,4,6}, d {2,3,4}, ImageNet
  // 128-224. Default epochs follow the paper's ImageNet schedule (180 for the full network,
  // then 120 / 25+120 / 25+120 as in the authors' train_ofa_net.py).
  static const auto* presets = new std::vector<SupernetPreset>{
      {"ofa_mbv3_w1.0", "OFA-MobileNetV3, width 1.0 (ImageNet)", {3, 5, 7}, {3, 4, 6},
       {2, 3, 4}, 3, {128, 160, 192, 224}, 1.0, 0.1, {180, 120, 25, 120, 25, 120}},
      {"ofa_mbv3_w1.2", "OFA-MobileNetV3, width 1.2 (ImageNet)", {3, 5, 7}, {3, 4, 6},
       {2, 3, 4}, 3, {128, 160, 192, 224}, 1.2, 0.1, {180, 120, 25, 120, 25, 120}},
      // Same elastic space on 28x28 grayscale inputs; few epochs because Fashion-MNIST
      // converges quickly and the whole pipeline must fit a 2-core CPU in minutes.
      {"ofa_small_28", "small OFA-MobileNetV3-style supernet for 28x28 grayscale",
       {3, 5, 7}, {3, 4, 6}, {2, 3, 4}, 1, {28}, 1.0, 0.0, {6, 2, 1, 2, 1, 2}},
  };
  return *presets;
}

absl::StatusOr<const SupernetPreset*> FindSupernetPreset(absl::string_view name) {
  std::vector<std::string> names;
  for (const SupernetPreset& preset : SupernetPresets()) {
    if (preset.name == name) return &preset;
    names.push_back(preset.name);
  }
  return absl::NotFoundError(absl::StrCat("unknown supernet preset \"", name,
                                          "\"; known presets: ", absl::StrJoin(names, ", ")));
}

absl::StatusOr<ofa::v1::SupernetSpec> ResolveSupernet(const ofa::v1::SupernetSpec& spec) {
  absl::StatusOr<const SupernetPreset*> preset = FindSupernetPreset(spec.preset());
  if (!preset.ok()) return preset.status();
  const SupernetPreset& p = **preset;
  ofa::v1::SupernetSpec resolved = spec;
  auto fill = [](const std::vector<int>& from, google::protobuf::RepeatedField<int32_t>* to) {
    if (to->empty()) to->Add(from.begin(), from.end());
  };
  fill(p.kernel_sizes, resolved.mutable_kernel_sizes());
  fill(p.expand_ratios, resolved.mutable_expand_ratios());
  fill(p.depths, resolved.mutable_depths());
  fill(p.resolutions, resolved.mutable_resolutions());
  if (resolved.width_multiplier() == 0) resolved.set_width_multiplier(p.width_multiplier);
  if (resolved.input_channels() == 0) resolved.set_input_channels(p.input_channels);
  if (resolved.dropout_rate() == 0) resolved.set_dropout_rate(p.dropout_rate);
  return resolved;
}

}  // namespace ofa::trainer
