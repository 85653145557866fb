#ifndef OFA_TRAINER_SPEC_SUPERNET_PRESETS_H_
#define OFA_TRAINER_SPEC_SUPERNET_PRESETS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ofa/v1/supernet.pb.h"

namespace ofa::trainer {

// One stage of elastic MBConv blocks (OFA-MobileNetV3 layout: the first block of a stage
// carries the stride; depth is elastic by skipping the stage's last blocks).
struct StagePreset {
  int base_width;  // Output channels before the width multiplier.
  int stride;
  bool hswish;     // h-swish activation, else ReLU.
  bool squeeze_excite;
};

// A named supernet: its macro-architecture (stem, stages, head), its elastic search space and
// the default training lengths. This is what a JobSpec is checked and completed against and
// what the model code builds from.
struct SupernetPreset {
  std::string name;
  std::string description;
  // Elastic choices, ascending.
  std::vector<int> kernel_sizes;
  std::vector<int> expand_ratios;
  std::vector<int> depths;
  int input_channels = 3;
  // Resolutions (pixels) training may sample, ascending.
  std::vector<int> resolutions;
  double width_multiplier = 1.0;
  double dropout_rate = 0.1;
  // Epochs of the default progressive-shrinking phases for the data set the preset is made
  // for: full, elastic kernel, elastic depth 1 and 2, elastic expand 1 and 2.
  std::vector<int> default_epochs;

  // Macro-architecture, channel counts before the width multiplier.
  int stem_width = 16;   // 3x3 conv, h-swish.
  int stem_stride = 2;
  int first_block_width = 16;  // Fixed MBConv, expand 1, kernel 3, ReLU.
  std::vector<StagePreset> stages;
  int final_expand_width = 960;  // 1x1 conv + BN + h-swish before pooling.
  int last_channel = 1280;       // 1x1 conv (no BN) + h-swish after pooling.
  int default_num_classes = 1000;
};

// All presets, in a stable order.
const std::vector<SupernetPreset>& SupernetPresets();

// The preset called `name`, or NOT_FOUND listing the known names.
absl::StatusOr<const SupernetPreset*> FindSupernetPreset(absl::string_view name);

// `spec` with every zero field replaced by its preset's value (num_classes stays 0 when
// unset: the data set decides). NOT_FOUND if the preset is unknown.
absl::StatusOr<ofa::v1::SupernetSpec> ResolveSupernet(const ofa::v1::SupernetSpec& spec);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SPEC_SUPERNET_PRESETS_H_
