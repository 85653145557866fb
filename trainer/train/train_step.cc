#include "trainer/train/train_step.h"

#include <algorithm>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "trainer/common/concurrent_tasks.h"
#include "trainer/common/stream_seed.h"
#include "trainer/nn/dynamic_batch_norm.h"
#include "trainer/nn/subnet_cost.h"
#include "trainer/train/evaluator.h"
#include "trainer/train/losses.h"
#include "trainer/train/subnet_sampler.h"

namespace ofa::trainer {
namespace {

// What the frozen teacher said about one shard's images, per resolution: its targets depend
// only on the images, so the sub-nets of one step share one teacher forward pass per shard.
struct ShardTeacherTargets {
  std::map<int, torch::Tensor> soft_targets;
  double flops = 0;
};

// The loss of sub-net `subnet` (= `choice`) on shard `m` of the step's batch.
torch::Tensor ShardLoss(OfaSupernet& model, OfaSupernet& teacher, const Batch& shard,
                        const SubnetChoice& choice, int subnet, int m,
                        const ofa::v1::PhaseSpec& phase, const StepContext& context,
                        ShardTeacherTargets& targets) {
  // Dropout draws from the global generator: seeded per (step, sub-net, shard), so resume is
  // exact and the draws do not depend on how shards map to ranks.
  torch::manual_seed(
      StreamSeed(context.seed, {kSeedDropout, static_cast<uint64_t>(context.phase_index),
                                static_cast<uint64_t>(context.step), static_cast<uint64_t>(subnet),
                                static_cast<uint64_t>(context.first_shard + m)}));
  const torch::Tensor images = AtResolution(shard.images, choice.resolution);
  torch::Tensor logits = model(images, choice);
  torch::Tensor loss = LabelSmoothedCrossEntropy(logits, shard.labels, context.label_smoothing);
  if (phase.kd_ratio() > 0 && !teacher.is_empty()) {
    torch::Tensor& soft = targets.soft_targets[choice.resolution];
    if (!soft.defined()) {
      torch::NoGradGuard no_grad;
      const SubnetChoice largest = model->architecture().Largest();
      soft = teacher(images, largest);
      targets.flops += 2.0 * ComputeSubnetCost(model->architecture(), largest).macs *
                       static_cast<double>(images.size(0));
    }
    loss = loss + phase.kd_ratio() * SoftTargetCrossEntropy(logits, soft);
  }
  if (context.micro_batches > 1) loss = loss / context.micro_batches;
  return loss;
}

}  // namespace

absl::StatusOr<StepResult> AccumulateGradients(OfaSupernet& model, OfaSupernet& teacher,
                                               const Batch& batch,
                                               const ofa::v1::PhaseSpec& phase,
                                               const StepContext& context) {
  const SupernetArchitecture& arch = model->architecture();
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
  // With one rank the shards' gradients are computed apart and added in shard order (not under
  // a reducer, which hooks the step's last backward). They ran concurrently, one kernel thread
  // each, which was 1.15-1.35x on LibTorch 1.13; on LibTorch 2.15 two runs of the same
  // concurrent step differ by about 1e-6 in the stem's weight gradient (docs/performance.md,
  // "LibTorch 2.15"), and exact resume matters more: the shards run in turn, each with every
  // kernel thread.
  const bool gradients_apart = micro > 1 && context.reducer == nullptr;
  const int workers = 1;
  const std::vector<torch::Tensor> parameters = model->parameters();
  std::vector<ShardTeacherTargets> teacher_targets(micro);
  StepResult result;
  const int subnets = phase.subnets_per_step();
  for (int i = 0; i < subnets; ++i) {
    const SubnetChoice choice = SampleSubnet(arch, phase, context.seed, context.phase_index,
                                             context.step, i);
    const double flops_per_image = TrainingFlopsPerImage(ComputeSubnetCost(arch, choice));
    result.training_flops += flops_per_image * static_cast<double>(batch.images.size(0));
    if (!gradients_apart) {
      for (int m = 0; m < micro; ++m) {
        FreezeRunningStatistics freeze(m > 0);
        torch::Tensor loss =
            ShardLoss(model, teacher, shards[m], choice, i, m, phase, context, teacher_targets[m]);
        const bool last = i == subnets - 1 && m == micro - 1;
        if (last && context.reducer != nullptr) context.reducer->PrepareForBackward(loss);
        loss.backward();
        result.loss += loss.item<double>() / subnets;
      }
      continue;
    }
    std::vector<std::vector<torch::Tensor>> gradients(micro);
    std::vector<double> losses(micro);
    RunConcurrently(micro, workers, context.kernel_threads, [&](int m) {
      FreezeRunningStatistics freeze(m > 0);
      torch::Tensor loss =
          ShardLoss(model, teacher, shards[m], choice, i, m, phase, context, teacher_targets[m]);
      gradients[m] = torch::autograd::grad({loss}, parameters, /*grad_outputs=*/{},
                                           /*retain_graph=*/false, /*create_graph=*/false,
                                           /*allow_unused=*/true);
      losses[m] = loss.item<double>();
    });
    // The same additions, in the same order, as backward() accumulating shard after shard.
    torch::NoGradGuard no_grad;
    for (int m = 0; m < micro; ++m) {
      for (size_t k = 0; k < parameters.size(); ++k) {
        torch::Tensor& gradient = gradients[m][k];
        if (!gradient.defined()) continue;
        torch::Tensor p = parameters[k];
        if (p.grad().defined()) {
          p.mutable_grad().add_(gradient);
        } else if (gradient.is_view()) {
          // A weight used through a view (LinearAsConv1x1's unsqueeze) gets a view of the
          // 4-d gradient; LibTorch 2.x's Optimizer::zero_grad refuses to detach a view.
          p.mutable_grad() = gradient.clone();
        } else {
          p.mutable_grad() = std::move(gradient);
        }
      }
      result.loss += losses[m] / subnets;
    }
  }
  for (const ShardTeacherTargets& t : teacher_targets) result.training_flops += t.flops;
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
