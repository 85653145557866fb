#include "trainer/train/train_step.h"

#include <map>

#include "trainer/nn/subnet_cost.h"
#include "trainer/train/evaluator.h"
#include "trainer/train/losses.h"
#include "trainer/train/subnet_sampler.h"

namespace ofa::trainer {

StepResult AccumulateGradients(OfaSupernet& model, OfaSupernet& teacher, const Batch& batch,
                               const ofa::v1::PhaseSpec& phase, uint64_t seed, int phase_index,
                               int64_t step, double label_smoothing) {
  const SupernetArchitecture& arch = model->architecture();
  const bool distill = phase.kd_ratio() > 0 && !teacher.is_empty();
  const SubnetChoice teacher_choice = arch.Largest();
  StepResult result;
  // The frozen teacher's targets depend only on the images, so sub-nets of one step that see
  // the same resolution share one teacher forward pass.
  std::map<int, torch::Tensor> soft_targets;
  for (int i = 0; i < phase.subnets_per_step(); ++i) {
    const SubnetChoice choice = SampleSubnet(arch, phase, seed, phase_index, step, i);
    const torch::Tensor images = AtResolution(batch.images, choice.resolution);
    const double batch_images = static_cast<double>(images.size(0));
    torch::Tensor logits = model(images, choice);
    torch::Tensor loss = LabelSmoothedCrossEntropy(logits, batch.labels, label_smoothing);
    if (distill) {
      torch::Tensor& soft = soft_targets[choice.resolution];
      if (!soft.defined()) {
        torch::NoGradGuard no_grad;
        soft = teacher(images, teacher_choice);
        result.training_flops +=
            2.0 * ComputeSubnetCost(arch, teacher_choice).macs * batch_images;
      }
      loss = loss + phase.kd_ratio() * SoftTargetCrossEntropy(logits, soft);
    }
    loss.backward();
    result.loss += loss.item<double>() / phase.subnets_per_step();
    result.training_flops += TrainingFlopsPerImage(ComputeSubnetCost(arch, choice)) * batch_images;
  }
  for (torch::Tensor& p : model->parameters()) {
    if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
  }
  return result;
}

}  // namespace ofa::trainer
