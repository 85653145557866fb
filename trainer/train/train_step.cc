#include "trainer/train/train_step.h"

#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "trainer/common/stream_seed.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/train/evaluator.h"
#include "trainer/train/losses.h"
#include "trainer/train/subnet_sampler.h"

namespace ofa::trainer {

absl::StatusOr<StepResult> AccumulateGradients(OfaSupernet& model, OfaSupernet& teacher,
                                               const Batch& batch,
                                               const ofa::v1::PhaseSpec& phase,
                                               const StepContext& context) {
  const SupernetArchitecture& arch = model->architecture();
  const bool distill = phase.kd_ratio() > 0 && !teacher.is_empty();
  const SubnetChoice teacher_choice = arch.Largest();
  const int micro = context.micro_batches;
  if (micro < 1 || batch.images.size(0) < micro) {
    return absl::InvalidArgumentError(absl::StrCat("a batch of ", batch.images.size(0),
                                                   " images cannot be cut into ", micro,
                                                   " micro-batches"));
  }
  std::vector<Batch> shards;
  for (int m = 0; m < micro; ++m) {
    const auto strided = torch::indexing::Slice(m, torch::indexing::None, micro);
    shards.push_back(micro == 1 ? batch
                                : Batch{batch.images.index({strided}).contiguous(),
                                        batch.labels.index({strided}).contiguous()});
  }
  StepResult result;
  // The frozen teacher's targets depend only on the images, so sub-nets of one step that see
  // the same resolution share one teacher forward pass (per shard).
  std::map<std::pair<int, int>, torch::Tensor> soft_targets;
  const int subnets = phase.subnets_per_step();
  for (int i = 0; i < subnets; ++i) {
    const SubnetChoice choice = SampleSubnet(arch, phase, context.seed, context.phase_index,
                                             context.step, i);
    const double flops_per_image = TrainingFlopsPerImage(ComputeSubnetCost(arch, choice));
    for (int m = 0; m < micro; ++m) {
      // Dropout draws from the global generator: seeded per (step, sub-net, shard), so
      // resume is exact and the draws do not depend on how shards map to ranks.
      torch::manual_seed(StreamSeed(
          context.seed, {kSeedDropout, static_cast<uint64_t>(context.phase_index),
                         static_cast<uint64_t>(context.step), static_cast<uint64_t>(i),
                         static_cast<uint64_t>(context.first_shard + m)}));
      const torch::Tensor images = AtResolution(shards[m].images, choice.resolution);
      const double batch_images = static_cast<double>(images.size(0));
      torch::Tensor logits = model(images, choice);
      torch::Tensor loss = LabelSmoothedCrossEntropy(logits, shards[m].labels,
                                                     context.label_smoothing);
      if (distill) {
        torch::Tensor& soft = soft_targets[{m, choice.resolution}];
        if (!soft.defined()) {
          torch::NoGradGuard no_grad;
          soft = teacher(images, teacher_choice);
          result.training_flops +=
              2.0 * ComputeSubnetCost(arch, teacher_choice).macs * batch_images;
        }
        loss = loss + phase.kd_ratio() * SoftTargetCrossEntropy(logits, soft);
      }
      if (micro > 1) loss = loss / micro;
      const bool last = i == subnets - 1 && m == micro - 1;
      if (last && context.reducer != nullptr) context.reducer->PrepareForBackward(loss);
      loss.backward();
      result.loss += loss.item<double>() / subnets;
      result.training_flops += flops_per_image * batch_images;
    }
  }
  if (context.reducer != nullptr) {
    if (absl::Status s = context.reducer->FinishBackward(); !s.ok()) return s;
  } else {
    for (torch::Tensor& p : model->parameters()) {
      if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
    }
  }
  return result;
}

}  // namespace ofa::trainer
