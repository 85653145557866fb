#include "trainer/search/evolution_search.h"

#include <algorithm>
#include <numeric>

#include "absl/strings/str_cat.h"

namespace ofa::trainer {
namespace {

int Pick(const std::vector<int>& values, SplitMix64& rng) {
  return values[rng.Below(values.size())];
}

SubnetChoice Mutate(const SupernetArchitecture& arch, const SubnetChoice& parent, double p,
                    SplitMix64& rng) {
  SubnetChoice child = parent;
  for (size_t b = 0; b < child.kernel_sizes.size(); ++b) {
    if (rng.Uniform() < p) child.kernel_sizes[b] = Pick(arch.kernel_sizes, rng);
    if (rng.Uniform() < p) child.expand_ratios[b] = Pick(arch.expand_ratios, rng);
  }
  for (int& depth : child.depths) {
    if (rng.Uniform() < p) depth = Pick(arch.depths, rng);
  }
  if (rng.Uniform() < p) child.resolution = Pick(arch.resolutions, rng);
  return child;
}

// Each gene from either parent with equal chance.
SubnetChoice Crossover(const SubnetChoice& a, const SubnetChoice& b, SplitMix64& rng) {
  SubnetChoice child = a;
  for (size_t i = 0; i < child.kernel_sizes.size(); ++i) {
    if (rng.Below(2)) child.kernel_sizes[i] = b.kernel_sizes[i];
    if (rng.Below(2)) child.expand_ratios[i] = b.expand_ratios[i];
  }
  for (size_t i = 0; i < child.depths.size(); ++i) {
    if (rng.Below(2)) child.depths[i] = b.depths[i];
  }
  if (rng.Below(2)) child.resolution = b.resolution;
  return child;
}

}  // namespace

SubnetChoice RandomSubnet(const SupernetArchitecture& arch, SplitMix64& rng) {
  SubnetChoice choice;
  for (size_t b = 0; b < arch.blocks.size(); ++b) {
    choice.kernel_sizes.push_back(Pick(arch.kernel_sizes, rng));
    choice.expand_ratios.push_back(Pick(arch.expand_ratios, rng));
  }
  for (int s = 0; s < arch.num_stages(); ++s) choice.depths.push_back(Pick(arch.depths, rng));
  choice.resolution = Pick(arch.resolutions, rng);
  return choice;
}

absl::StatusOr<SubnetChoice> RandomFeasibleSubnet(const SupernetArchitecture& arch,
                                                  const Feasible& feasible, SplitMix64& rng,
                                                  int max_tries) {
  for (int i = 0; i < max_tries; ++i) {
    SubnetChoice choice = RandomSubnet(arch, rng);
    if (feasible(choice)) return choice;
  }
  return absl::NotFoundError(
      absl::StrCat("no random sub-network met the budget in ", max_tries, " draws"));
}

absl::StatusOr<EvolutionResult> EvolutionSearch(const SupernetArchitecture& arch,
                                                const Feasible& feasible, const Scorer& score,
                                                const EvolutionOptions& options) {
  if (!feasible(arch.Smallest())) {
    return absl::FailedPreconditionError(
        "not even the smallest sub-network meets the budget");
  }
  const int population_size = std::max(2, options.population);
  const int parents = std::clamp(static_cast<int>(population_size * options.parent_fraction), 1,
                                 population_size);
  const int mutations = static_cast<int>((population_size - parents) * options.mutation_fraction);
  SplitMix64 rng(options.seed);

  std::vector<SubnetChoice> population;
  for (int i = 0; i < population_size; ++i) {
    absl::StatusOr<SubnetChoice> drawn =
        RandomFeasibleSubnet(arch, feasible, rng, options.max_tries);
    // A tight budget that random draws rarely meet: start from the smallest and let
    // mutation explore upwards from it.
    population.push_back(drawn.ok() ? *drawn : arch.Smallest());
  }
  EvolutionResult result;
  // The best distinct sub-networks seen in any generation: the population itself often
  // collapses onto copies of one parent.
  const size_t wanted = static_cast<size_t>(std::max(1, options.finalists));
  auto remember = [&](const std::vector<SubnetChoice>& choices, const std::vector<double>& s) {
    std::vector<ScoredSubnet>& best = result.finalists;
    for (size_t i = 0; i < choices.size(); ++i) {
      if (best.size() == wanted && s[i] <= best.back().score) continue;
      if (std::any_of(best.begin(), best.end(),
                      [&](const ScoredSubnet& b) { return b.choice == choices[i]; })) {
        continue;
      }
      auto at = std::upper_bound(best.begin(), best.end(), s[i],
                                 [](double v, const ScoredSubnet& b) { return v > b.score; });
      best.insert(at, {choices[i], s[i]});
      if (best.size() > wanted) best.pop_back();
    }
  };
  std::vector<double> scores = score(population);
  result.scored += static_cast<int64_t>(population.size());
  remember(population, scores);

  auto select = [&] {
    std::vector<int> order(population.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(),
                     [&](int a, int b) { return scores[a] > scores[b]; });
    std::vector<SubnetChoice> kept;
    std::vector<double> kept_scores;
    for (int i = 0; i < parents; ++i) {
      kept.push_back(population[order[i]]);
      kept_scores.push_back(scores[order[i]]);
    }
    population = std::move(kept);
    scores = std::move(kept_scores);
  };
  select();
  for (int iteration = 0; iteration < options.iterations; ++iteration) {
    std::vector<SubnetChoice> children;
    for (int i = 0; i < population_size - parents; ++i) {
      SubnetChoice child = population[rng.Below(parents)];
      for (int t = 0; t < options.max_tries; ++t) {
        SubnetChoice candidate =
            i < mutations
                ? Mutate(arch, population[rng.Below(parents)], options.mutation_probability, rng)
                : Crossover(population[rng.Below(parents)], population[rng.Below(parents)], rng);
        if (feasible(candidate)) {
          child = std::move(candidate);
          break;
        }
      }
      children.push_back(std::move(child));
    }
    const std::vector<double> child_scores = score(children);
    result.scored += static_cast<int64_t>(children.size());
    remember(children, child_scores);
    population.insert(population.end(), children.begin(), children.end());
    scores.insert(scores.end(), child_scores.begin(), child_scores.end());
    select();
  }
  return result;
}

}  // namespace ofa::trainer
