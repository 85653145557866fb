#ifndef OFA_TRAINER_SEARCH_EVOLUTION_SEARCH_H_
#define OFA_TRAINER_SEARCH_EVOLUTION_SEARCH_H_

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/common/stream_seed.h"
#include "trainer/nn/supernet_architecture.h"

namespace ofa::trainer {

struct EvolutionOptions {
  int population = 100;
  int iterations = 500;
  // Each block's (and stage's, and the resolution's) chance to be redrawn in a mutation.
  double mutation_probability = 0.1;
  // The best fraction of the population that breeds the next generation.
  double parent_fraction = 0.25;
  // Fraction of the children made by mutation; the rest by crossover.
  double mutation_fraction = 0.5;
  // Draws per child before giving up on a constraint and keeping a parent.
  int max_tries = 500;
  // Distinct best sub-networks to return, best first.
  int finalists = 1;
  uint64_t seed = 0;
};

// True if a sub-network meets every budget of a target.
using Feasible = std::function<bool(const SubnetChoice&)>;
// Scores of many sub-networks at once (higher is better); batched so a predictor runs once.
using Scorer = std::function<std::vector<double>(const std::vector<SubnetChoice>&)>;

struct ScoredSubnet {
  SubnetChoice choice;
  double score = 0;
};

struct EvolutionResult {
  // The best distinct sub-networks scored in the whole search, best first: at least one, at
  // most `finalists`. A predictor's top pick is often one it overrates, so callers that can
  // measure should measure several.
  std::vector<ScoredSubnet> finalists;
  int64_t scored = 0;  // Sub-networks scored in all.
  const ScoredSubnet& best() const { return finalists.front(); }
};

// A uniformly random sub-network of `arch`.
SubnetChoice RandomSubnet(const SupernetArchitecture& arch, SplitMix64& rng);

// A uniformly random sub-network that is `feasible`, by rejection; NOT_FOUND after
// `max_tries` draws.
absl::StatusOr<SubnetChoice> RandomFeasibleSubnet(const SupernetArchitecture& arch,
                                                  const Feasible& feasible, SplitMix64& rng,
                                                  int max_tries);

// The OFA authors' constrained evolutionary search: a feasible random population, then each
// generation keeps the best parent_fraction and refills with mutations and crossovers of
// them, every child feasible. Returns the best distinct feasible sub-networks seen.
// FAILED_PRECONDITION if not even the smallest sub-network is feasible. Deterministic for a given
// seed.
absl::StatusOr<EvolutionResult> EvolutionSearch(const SupernetArchitecture& arch,
                                                const Feasible& feasible, const Scorer& score,
                                                const EvolutionOptions& options);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_SEARCH_EVOLUTION_SEARCH_H_
