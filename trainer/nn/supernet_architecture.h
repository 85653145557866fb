#ifndef OFA_TRAINER_NN_SUPERNET_ARCHITECTURE_H_
#define OFA_TRAINER_NN_SUPERNET_ARCHITECTURE_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "ofa/v1/supernet.pb.h"

namespace ofa::trainer {

// OFA's channel rounding (make_divisible in the authors' code): the nearest multiple of
// `divisor`, at least `divisor`, and never more than 10% below `value`.
int MakeDivisible(double value, int divisor = 8);

// Middle (expanded) channels of an inverted bottleneck with `in_channels` inputs.
int MiddleChannels(int in_channels, int expand_ratio);

// Hidden units of squeeze-and-excitation over `channels` channels (reduction 4).
int SqueezeChannels(int channels);

// One elastic MBConv block slot of the supernet, at its maximum size.
struct BlockLayout {
  int stage = 0;
  int in_channels = 0;
  int out_channels = 0;
  int stride = 1;
  bool hswish = false;
  bool squeeze_excite = false;
  // Residual connection (stride 1 and equal widths).
  bool residual() const { return stride == 1 && in_channels == out_channels; }
};

// One sub-network: a kernel size and expand ratio per block slot, a depth per stage.
struct SubnetChoice {
  std::vector<int> kernel_sizes;
  std::vector<int> expand_ratios;
  std::vector<int> depths;
  int resolution = 0;

  bool operator==(const SubnetChoice& other) const;
  std::string ToString() const;  // e.g. "k[7,5,...] e[6,...] d[4,2,3] r28"
};

// The full layout of a supernet resolved from a SupernetSpec (preset + overrides): stem,
// first block, the elastic block slots grouped into stages, the head, and the search space.
struct SupernetArchitecture {
  int input_channels = 3;
  int num_classes = 1000;
  double dropout_rate = 0.0;
  int stem_channels = 16;
  int stem_stride = 2;
  int first_block_channels = 16;
  std::vector<BlockLayout> blocks;
  std::vector<std::vector<int>> stage_blocks;  // Block indices of each stage, in order.
  int final_expand_channels = 960;
  int last_channel = 1280;
  // Search space, ascending.
  std::vector<int> kernel_sizes;
  std::vector<int> expand_ratios;
  std::vector<int> depths;
  std::vector<int> resolutions;

  // Builds the layout of `spec` (any zero field takes the preset's value; num_classes 0 takes
  // `default_num_classes`, or the preset's when that is 0 too).
  static absl::StatusOr<SupernetArchitecture> FromSpec(const ofa::v1::SupernetSpec& spec,
                                                       int default_num_classes = 0);
  // A preset as published (e.g. "ofa_mbv3_w1.0"), no overrides.
  static absl::StatusOr<SupernetArchitecture> FromPreset(const std::string& preset);

  int num_stages() const { return static_cast<int>(stage_blocks.size()); }
  int max_kernel() const { return kernel_sizes.back(); }

  SubnetChoice Largest() const;
  SubnetChoice Smallest() const;
  // OK if every choice is in the search space and the vectors have the right lengths;
  // INVALID_ARGUMENT naming the first wrong entry otherwise.
  absl::Status Check(const SubnetChoice& choice) const;

  ofa::v1::SubnetArch ToProto(const SubnetChoice& choice) const;
  absl::StatusOr<SubnetChoice> FromProto(const ofa::v1::SubnetArch& arch) const;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_SUPERNET_ARCHITECTURE_H_
