#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>

#include <gtest/gtest.h>

#include "trainer/nn/subnet_cost.h"
#include "trainer/nn/subnet_export.h"
#include "trainer/search/accuracy_predictor.h"
#include "trainer/search/arch_encoding.h"
#include "trainer/search/evolution_search.h"
#include "trainer/search/latency_model.h"
#include "trainer/search/latency_profiler.h"
#include "trainer/search/target_budget.h"

namespace ofa::trainer {
namespace {

SupernetArchitecture Small() {
  absl::StatusOr<SupernetArchitecture> arch = SupernetArchitecture::FromPreset("ofa_small_28");
  EXPECT_TRUE(arch.ok()) << arch.status();
  return *arch;
}

TEST(ArchEncodingTest, OneHotPerActiveSlotAndZerosForSkippedOnes) {
  const SupernetArchitecture arch = Small();
  SubnetChoice choice = arch.Smallest();
  const std::vector<float> code = EncodeArchitecture(arch, choice);
  ASSERT_EQ(static_cast<int>(code.size()), EncodingSize(arch));
  int active = 0;
  for (int d : choice.depths) active += d;
  // Two ones per active block (kernel, expand) and one for the resolution.
  EXPECT_EQ(std::accumulate(code.begin(), code.end(), 0.0f), 2 * active + 1);
  // A kernel change in a skipped slot does not change the code; in an active one it does.
  const int skipped = arch.stage_blocks[0].back();
  choice.kernel_sizes[skipped] = arch.kernel_sizes.back();
  EXPECT_EQ(EncodeArchitecture(arch, choice), code);
  choice.kernel_sizes[arch.stage_blocks[0][0]] = arch.kernel_sizes.back();
  EXPECT_NE(EncodeArchitecture(arch, choice), code);
}

// A made-up accuracy that depends on kernels, expand ratios and depth, like a real one.
double SyntheticTop1(const SupernetArchitecture& arch, const SubnetChoice& c) {
  double top1 = 0.6;
  for (int s = 0; s < arch.num_stages(); ++s) {
    for (int d = 0; d < c.depths[s]; ++d) {
      const int b = arch.stage_blocks[s][d];
      top1 += 0.004 * c.kernel_sizes[b] + 0.003 * c.expand_ratios[b];
    }
  }
  return top1;
}

TEST(AccuracyPredictorTest, LearnsToRankSubnetworksItHasNotSeen) {
  const SupernetArchitecture arch = Small();
  SplitMix64 rng(7);
  std::vector<AccuracySample> samples;
  for (int i = 0; i < 300; ++i) {
    SubnetChoice c = RandomSubnet(arch, rng);
    samples.push_back({c, SyntheticTop1(arch, c)});
  }
  PredictorQuality quality;
  absl::StatusOr<AccuracyPredictor> predictor =
      AccuracyPredictor::Train(arch, samples, {.seed = 1}, &quality);
  ASSERT_TRUE(predictor.ok()) << predictor.status();
  EXPECT_EQ(quality.train_samples, 240);
  EXPECT_EQ(quality.holdout_samples, 60);
  EXPECT_GT(quality.holdout_kendall_tau, 0.8);
  EXPECT_LT(quality.holdout_rmse, 0.012);
  std::printf("held-out RMSE %.4f, tau %.3f\n", quality.holdout_rmse, quality.holdout_kendall_tau);
  // And on fresh draws: predicted differences follow the true ones.
  const SubnetChoice big = arch.Largest(), small = arch.Smallest();
  EXPECT_GT(predictor->Predict(big) - predictor->Predict(small),
            0.5 * (SyntheticTop1(arch, big) - SyntheticTop1(arch, small)));
}

TEST(AccuracyPredictorTest, RefusesTooFewSamples) {
  const SupernetArchitecture arch = Small();
  absl::StatusOr<AccuracyPredictor> predictor =
      AccuracyPredictor::Train(arch, {{arch.Largest(), 0.9}}, {});
  EXPECT_EQ(predictor.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(predictor.status().message().find("at least 10"), std::string::npos);
}

TEST(EvolutionSearchTest, FindsTheBestFeasibleSubnetworkBetterThanRandomDraws) {
  const SupernetArchitecture arch = Small();
  const int64_t budget = ComputeSubnetCost(arch, arch.Largest()).macs / 2;
  const Feasible feasible = [&](const SubnetChoice& c) {
    return ComputeSubnetCost(arch, c).macs <= budget;
  };
  const Scorer score = [&](const std::vector<SubnetChoice>& cs) {
    std::vector<double> out;
    for (const SubnetChoice& c : cs) out.push_back(SyntheticTop1(arch, c));
    return out;
  };
  absl::StatusOr<EvolutionResult> found =
      EvolutionSearch(arch, feasible, score, {.population = 50, .iterations = 60, .seed = 3});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->finalists.size(), 1u);
  EXPECT_TRUE(feasible(found->best().choice));
  EXPECT_DOUBLE_EQ(found->best().score, SyntheticTop1(arch, found->best().choice));
  EXPECT_EQ(found->scored, 50 + 60 * (50 - 12));

  SplitMix64 rng(11);
  double best_random = 0;
  for (int i = 0; i < 200; ++i) {
    absl::StatusOr<SubnetChoice> c = RandomFeasibleSubnet(arch, feasible, rng, 1000);
    ASSERT_TRUE(c.ok());
    best_random = std::max(best_random, SyntheticTop1(arch, *c));
  }
  EXPECT_GE(found->best().score, best_random);

  // The same seed gives the same answer.
  absl::StatusOr<EvolutionResult> again =
      EvolutionSearch(arch, feasible, score, {.population = 50, .iterations = 60, .seed = 3});
  EXPECT_EQ(again->best().choice, found->best().choice);
}

TEST(EvolutionSearchTest, ReturnsDistinctFeasibleFinalistsBestFirst) {
  const SupernetArchitecture arch = Small();
  const int64_t budget = ComputeSubnetCost(arch, arch.Largest()).macs / 2;
  const Feasible feasible = [&](const SubnetChoice& c) {
    return ComputeSubnetCost(arch, c).macs <= budget;
  };
  const Scorer score = [&](const std::vector<SubnetChoice>& cs) {
    std::vector<double> out;
    for (const SubnetChoice& c : cs) out.push_back(SyntheticTop1(arch, c));
    return out;
  };
  absl::StatusOr<EvolutionResult> found = EvolutionSearch(
      arch, feasible, score, {.population = 50, .iterations = 60, .finalists = 8, .seed = 3});
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_EQ(found->finalists.size(), 8u);
  for (size_t i = 0; i < found->finalists.size(); ++i) {
    const ScoredSubnet& f = found->finalists[i];
    EXPECT_TRUE(feasible(f.choice));
    EXPECT_DOUBLE_EQ(f.score, SyntheticTop1(arch, f.choice));
    if (i > 0) {
      EXPECT_LE(f.score, found->finalists[i - 1].score);
    }
    for (size_t j = 0; j < i; ++j) EXPECT_FALSE(f.choice == found->finalists[j].choice);
  }
  // Asking for more finalists does not change the winner.
  absl::StatusOr<EvolutionResult> one =
      EvolutionSearch(arch, feasible, score, {.population = 50, .iterations = 60, .seed = 3});
  EXPECT_EQ(one->best().choice, found->best().choice);
}

TEST(EvolutionSearchTest, AnImpossibleBudgetIsAnError) {
  const SupernetArchitecture arch = Small();
  absl::StatusOr<EvolutionResult> found = EvolutionSearch(
      arch, [](const SubnetChoice&) { return false; },
      [](const std::vector<SubnetChoice>& cs) { return std::vector<double>(cs.size(), 0); }, {});
  EXPECT_EQ(found.status().code(), absl::StatusCode::kFailedPrecondition);
}

ofa::v1::DeploymentTarget Target(const std::string& name) {
  ofa::v1::DeploymentTarget t;
  t.set_name(name);
  return t;
}

TEST(LatencyModelTest, MacsProxyWithoutATable) {
  const SupernetArchitecture arch = Small();
  ofa::v1::DeploymentTarget t = Target("edge");
  t.set_latency_batch_size(4);
  t.set_proxy_gmacs_per_second(2);
  absl::StatusOr<LatencyModel> model = LatencyModel::ForTarget(arch, t, {});
  ASSERT_TRUE(model.ok()) << model.status();
  const int64_t macs = ComputeSubnetCost(arch, arch.Largest()).macs;
  EXPECT_DOUBLE_EQ(model->LatencyMs(arch.Largest()), macs * 4 / 2e6);
  EXPECT_EQ(model->description(), "macs-proxy:2 GMAC/s");
}

TEST(LatencyModelTest, AProfiledTableSumsTheLayersOfASubnetwork) {
  const SupernetArchitecture arch = Small();
  absl::StatusOr<ofa::v1::LatencyTable> table = ProfileLatencyTable(
      arch, {.name = "cpu-b2", .batch_size = 2, .warmup = 0, .repeats = 1});
  ASSERT_TRUE(table.ok()) << table.status();
  EXPECT_EQ(table->layer_ms_size(), static_cast<int>(AllLatencyLayers(arch).size()));
  for (const auto& [key, ms] : table->layer_ms()) EXPECT_GT(ms, 0) << key;

  ofa::v1::JobSpec spec;
  *spec.add_latency_tables() = *table;
  ofa::v1::DeploymentTarget t = Target("cpu");
  t.set_latency_table("cpu-b2");
  t.set_latency_batch_size(2);
  absl::StatusOr<LatencyModel> model = LatencyModel::ForTarget(arch, t, spec);
  ASSERT_TRUE(model.ok()) << model.status();
  SplitMix64 rng(5);
  const SubnetChoice c = RandomSubnet(arch, rng);
  double sum = 0;
  for (const LatencyLayer& layer : LatencyLayersOf(StandaloneLayoutOf(arch, c))) {
    sum += table->layer_ms().at(layer.key);
  }
  EXPECT_DOUBLE_EQ(model->LatencyMs(c), sum);
  EXPECT_EQ(model->description(), "table:cpu-b2");

  // A table at another batch size, an unknown table and a table with a hole are refused.
  t.set_latency_batch_size(8);
  EXPECT_NE(LatencyModel::ForTarget(arch, t, spec).status().message().find("batch size 2"),
            std::string::npos);
  t.set_latency_batch_size(2);
  t.set_latency_table("nope");
  EXPECT_NE(LatencyModel::ForTarget(arch, t, spec).status().message().find("\"nope\""),
            std::string::npos);
  t.set_latency_table("cpu-b2");
  const std::string missing = LatencyLayersOf(StandaloneLayoutOf(arch, arch.Largest()))[1].key;
  spec.mutable_latency_tables(0)->mutable_layer_ms()->erase(missing);
  EXPECT_NE(LatencyModel::ForTarget(arch, t, spec).status().message().find(missing),
            std::string::npos);
}

TEST(TargetBudgetTest, EveryBudgetThatIsSetMustBeMet) {
  const SupernetArchitecture arch = Small();
  const SubnetCost largest = ComputeSubnetCost(arch, arch.Largest());
  const SubnetCost smallest = ComputeSubnetCost(arch, arch.Smallest());
  ofa::v1::DeploymentTarget t = Target("t");
  t.set_max_macs(largest.macs - 1);
  absl::StatusOr<TargetBudget> budget = TargetBudget::Make(arch, t, {});
  ASSERT_TRUE(budget.ok());
  EXPECT_FALSE(budget->Meets(arch.Largest()));
  EXPECT_TRUE(budget->Meets(arch.Smallest()));

  t.clear_max_macs();
  t.set_max_params(smallest.params);
  budget = TargetBudget::Make(arch, t, {});
  EXPECT_TRUE(budget->Meets(arch.Smallest()));
  EXPECT_FALSE(budget->Meets(arch.Largest()));

  t.clear_max_params();
  t.set_max_latency_ms(smallest.macs / 10e6);  // The proxy at 10 GMAC/s, batch 1.
  budget = TargetBudget::Make(arch, t, {});
  EXPECT_TRUE(budget->Meets(arch.Smallest()));
  EXPECT_FALSE(budget->Meets(arch.Largest()));
  EXPECT_NE(budget->Describe().find("macs-proxy"), std::string::npos);
}

}  // namespace
}  // namespace ofa::trainer
