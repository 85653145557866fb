#ifndef OFA_TRAINER_SPEC_SUPERNET_PRESETS_H_
#define OFA_TRAINER_SPEC_SUPERNET_PRESETS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "ofa/v1/supernet.pb.h"

namespace ofa::trainer {

// The elastic search space and default training lengths of a named supernet preset. The
// layer-by-layer architecture lives with the model code; this is what a JobSpec is checked and
// completed against.
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
