#include "trainer/train/train_step.h"

#include <string>
#include <vector>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "gtest/gtest.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {
namespace {

SupernetArchitecture Narrow() {
  ofa::v1::SupernetSpec spec;
  spec.set_preset("ofa_small_28");
  spec.set_width_multiplier(0.5);
  absl::StatusOr<SupernetArchitecture> arch = SupernetArchitecture::FromSpec(spec, 10);
  EXPECT_TRUE(arch.ok()) << arch.status();
  return *arch;
}

OfaSupernet Initialised(const SupernetArchitecture& arch) {
  torch::manual_seed(3);
  return OfaSupernet(arch);
}

ofa::v1::PhaseSpec Phase(ofa::v1::PhaseKind kind, int subnets, double kd_ratio) {
  ofa::v1::PhaseSpec phase;
  phase.set_kind(kind);
  phase.set_subnets_per_step(subnets);
  phase.set_kd_ratio(kd_ratio);
  if (kind != ofa::v1::PHASE_KIND_FULL) {
    for (int k : {3, 5, 7}) phase.add_kernel_sizes(k);
  }
  if (kind == ofa::v1::PHASE_KIND_ELASTIC_EXPAND) {
    for (int d : {2, 3, 4}) phase.add_depths(d);
    for (int e : {3, 4, 6}) phase.add_expand_ratios(e);
  }
  return phase;
}

// Gradients and BN running statistics after one step.
std::vector<torch::Tensor> AfterOneStep(const SupernetArchitecture& arch,
                                        const ofa::v1::PhaseSpec& phase, const Batch& batch,
                                        int micro_batches, int kernel_threads) {
  OfaSupernet model = Initialised(arch);
  OfaSupernet teacher = Initialised(arch);
  teacher->eval();
  const StepContext context{.seed = 9,
                            .phase_index = 2,
                            .step = 4,
                            .micro_batches = micro_batches,
                            .kernel_threads = kernel_threads};
  EXPECT_TRUE(AccumulateGradients(model, teacher, batch, phase, context).ok());
  std::vector<torch::Tensor> state;
  for (const torch::Tensor& p : model->parameters()) state.push_back(p.grad());
  for (const torch::Tensor& b : model->buffers()) state.push_back(b);
  return state;
}

bool Equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

// A sharded step is reproducible to the bit (shards run in turn and their gradients are added
// in shard order; concurrent shards were not on LibTorch 2.15, see train_step.cc), whatever
// the kernel threads, and it is not the whole-batch step.
TEST(AccumulateGradientsTest, ShardedStepsAreReproducible) {
  at::set_num_threads(2);
  const SupernetArchitecture arch = Narrow();
  torch::manual_seed(1);
  const Batch batch{torch::randn({16, 1, 28, 28}), torch::randint(0, 10, {16})};
  for (const auto& [name, phase] :
       {std::pair{"full", Phase(ofa::v1::PHASE_KIND_FULL, 1, 0)},
        std::pair{"kernel", Phase(ofa::v1::PHASE_KIND_ELASTIC_KERNEL, 1, 1)},
        std::pair{"expand", Phase(ofa::v1::PHASE_KIND_ELASTIC_EXPAND, 4, 1)}}) {
    SCOPED_TRACE(name);
    const std::vector<torch::Tensor> sharded = AfterOneStep(arch, phase, batch, 2, 2);
    for (int run = 0; run < 3; ++run) {
      EXPECT_TRUE(Equal(sharded, AfterOneStep(arch, phase, batch, 2, 2)));
    }
    // Not trivially equal: whole-batch BN statistics give other gradients.
    EXPECT_FALSE(Equal(sharded, AfterOneStep(arch, phase, batch, 1, 2)));
  }
  EXPECT_EQ(at::get_num_threads(), 2) << "the caller's kernel threads are restored";
}

}  // namespace
}  // namespace ofa::trainer
