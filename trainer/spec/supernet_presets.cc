#include "trainer/spec/supernet_presets.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ofa::trainer {

const std::vector<SupernetPreset>& SupernetPresets() {
  // OFA-MobileNetV3 (Cai et al. 2020, section 4): k {3,5,7}, e {3,4,6}, d {2,3,4}, ImageNet
  // 128-224. Default epochs follow the paper's ImageNet schedule (180 for the full network,
  // then 120 / 25+120 / 25+120 as in the authors' train_ofa_net.py).
  // Stage layout of OFA-MobileNetV3 (the authors' ofa_mbv3.py): widths 24/40/80/112/160,
  // strides 2/2/2/1/2, h-swish from the third stage, SE in stages 2, 4 and 5.
  const std::vector<StagePreset> mbv3_stages = {
      {24, 2, false, false}, {40, 2, false, true}, {80, 2, true, false},
      {112, 1, true, true},  {160, 2, true, true},
  };
  auto mbv3 = [&](const char* name, const char* description, double width) {
    SupernetPreset p;
    p.name = name;
    p.description = description;
    p.kernel_sizes = {3, 5, 7};
    p.expand_ratios = {3, 4, 6};
    p.depths = {2, 3, 4};
    p.input_channels = 3;
    p.resolutions = {128, 160, 192, 224};
    p.width_multiplier = width;
    p.dropout_rate = 0.1;
    // The paper's ImageNet schedule: 180 epochs for the full network, then 120 / 25+120 /
    // 25+120 as in the authors' train_ofa_net.py.
    p.default_epochs = {180, 120, 25, 120, 25, 120};
    p.stem_width = 16;
    p.stem_stride = 2;
    p.first_block_width = 16;
    p.stages = mbv3_stages;
    p.final_expand_width = 960;
    p.last_channel = 1280;
    p.default_num_classes = 1000;
    return p;
  };
  // The same elastic space on 28x28 grayscale inputs: three stages at 7x7 and 4x4, about 4M
  // MACs at its largest, so the whole progressive-shrinking pipeline fits a 2-core CPU in
  // minutes (docs/performance.md).
  SupernetPreset small;
  small.name = "ofa_small_28";
  small.description = "small OFA-MobileNetV3-style supernet for 28x28 grayscale";
  small.kernel_sizes = {3, 5, 7};
  small.expand_ratios = {3, 4, 6};
  small.depths = {2, 3, 4};
  small.input_channels = 1;
  small.resolutions = {28};
  small.width_multiplier = 1.0;
  small.dropout_rate = 0.0;
  small.default_epochs = {6, 2, 1, 2, 1, 2};
  small.stem_width = 8;
  small.stem_stride = 2;
  small.first_block_width = 8;
  small.stages = {{16, 2, false, false}, {24, 1, false, true}, {32, 2, true, true}};
  small.final_expand_width = 128;
  small.last_channel = 192;
  small.default_num_classes = 10;

  static const auto* presets = new std::vector<SupernetPreset>{
      mbv3("ofa_mbv3_w1.0", "OFA-MobileNetV3, width 1.0 (ImageNet)", 1.0),
      mbv3("ofa_mbv3_w1.2", "OFA-MobileNetV3, width 1.2 (ImageNet)", 1.2),
      small,
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
