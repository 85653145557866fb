#include "trainer/search/latency_model.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/nn/subnet_export.h"

namespace ofa::trainer {
namespace {

// Output side of a convolution with padding kernel/2.
int Strided(int resolution, int stride) { return (resolution + stride - 1) / stride; }

}  // namespace

std::vector<LatencyLayer> LatencyLayersOf(const StandaloneLayout& layout) {
  std::vector<LatencyLayer> layers;
  int r = layout.resolution;
  LatencyLayer& stem = layers.emplace_back();
  stem.kind = LatencyLayer::Kind::kStem;
  stem.resolution = r;
  stem.in_channels = layout.input_channels;
  stem.out_channels = layout.stem_channels;
  stem.stride = layout.stem_stride;
  stem.key = absl::StrFormat("stem:in%d:out%d:s%d:r%d", stem.in_channels, stem.out_channels,
                             stem.stride, r);
  r = Strided(r, layout.stem_stride);
  for (const StandaloneBlockLayout& b : layout.blocks) {
    LatencyLayer& layer = layers.emplace_back();
    layer.kind = LatencyLayer::Kind::kBlock;
    layer.resolution = r;
    layer.block = b;
    layer.key = absl::StrFormat("block:in%d:mid%d:out%d:k%d:s%d:r%d:se%d:hs%d:x%d", b.in_channels,
                                b.mid_channels, b.out_channels, b.kernel_size, b.stride, r,
                                b.squeeze_channels, b.hswish ? 1 : 0, b.has_expand ? 1 : 0);
    r = Strided(r, b.stride);
  }
  LatencyLayer& head = layers.emplace_back();
  head.kind = LatencyLayer::Kind::kHead;
  head.resolution = r;
  head.in_channels = layout.blocks.empty() ? layout.stem_channels : layout.blocks.back().out_channels;
  head.final_expand_channels = layout.final_expand_channels;
  head.last_channel = layout.last_channel;
  head.out_channels = layout.num_classes;
  head.key = absl::StrFormat("head:in%d:fe%d:lc%d:cls%d:r%d", head.in_channels,
                             head.final_expand_channels, head.last_channel, head.out_channels, r);
  return layers;
}

std::map<std::string, LatencyLayer> AllLatencyLayers(const SupernetArchitecture& arch) {
  // Each slot's layer depends only on its kernel, expand ratio and input resolution, so the
  // uniform sub-networks at full depth cover every layer of the space.
  std::map<std::string, LatencyLayer> all;
  const int slots = static_cast<int>(arch.blocks.size());
  for (int resolution : arch.resolutions) {
    for (int k : arch.kernel_sizes) {
      for (int e : arch.expand_ratios) {
        SubnetChoice choice{std::vector<int>(slots, k), std::vector<int>(slots, e),
                            std::vector<int>(arch.num_stages(), arch.depths.back()), resolution};
        for (LatencyLayer& layer : LatencyLayersOf(StandaloneLayoutOf(arch, choice))) {
          all.emplace(layer.key, layer);
        }
      }
    }
  }
  return all;
}

absl::StatusOr<LatencyModel> LatencyModel::ForTarget(const SupernetArchitecture& arch,
                                                     const ofa::v1::DeploymentTarget& target,
                                                     const ofa::v1::JobSpec& spec) {
  LatencyModel model;
  model.arch_ = arch;
  model.batch_size_ = target.latency_batch_size() > 0 ? target.latency_batch_size() : 1;
  if (target.latency_table().empty()) {
    model.gmacs_per_second_ =
        target.proxy_gmacs_per_second() > 0 ? target.proxy_gmacs_per_second() : 10.0;
    model.description_ = absl::StrCat("macs-proxy:", model.gmacs_per_second_, " GMAC/s");
    return model;
  }
  const std::string field = absl::StrCat("target \"", target.name(), "\": latency_table \"",
                                         target.latency_table(), "\"");
  const ofa::v1::LatencyTable* table = nullptr;
  for (const ofa::v1::LatencyTable& t : spec.latency_tables()) {
    if (t.name() == target.latency_table()) table = &t;
  }
  if (table == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(field, " is not among the job's latency_tables"));
  }
  const int table_batch = table->batch_size() > 0 ? table->batch_size() : 1;
  if (table_batch != model.batch_size_) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " was measured at batch size ", table_batch, " but the target's budget is for ",
        model.batch_size_, "; profile it again with --latency_batch_size=", model.batch_size_));
  }
  for (const auto& [key, layer] : AllLatencyLayers(arch)) {
    auto it = table->layer_ms().find(key);
    if (it == table->layer_ms().end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " has no entry for layer ", key,
          " of this supernet; profile it with ofa-trainer --profile_latency on this job spec"));
    }
    model.layer_ms_[key] = it->second;
  }
  model.description_ = absl::StrCat("table:", table->name());
  return model;
}

double LatencyModel::LatencyMs(const SubnetChoice& choice) const {
  if (gmacs_per_second_ > 0) {
    return static_cast<double>(ComputeSubnetCost(arch_, choice).macs) * batch_size_ /
           (gmacs_per_second_ * 1e6);
  }
  double total = 0;
  for (const LatencyLayer& layer : LatencyLayersOf(StandaloneLayoutOf(arch_, choice))) {
    total += layer_ms_.at(layer.key);
  }
  return total;
}

}  // namespace ofa::trainer
