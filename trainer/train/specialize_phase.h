#ifndef OFA_TRAINER_TRAIN_SPECIALIZE_PHASE_H_
#define OFA_TRAINER_TRAIN_SPECIALIZE_PHASE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "ofa/v1/job_spec.pb.h"
#include "ofa/v1/subnet.pb.h"
#include "trainer/data/image_dataset.h"
#include "trainer/nn/ofa_supernet.h"
#include "trainer/search/accuracy_predictor.h"
#include "trainer/search/evolution_search.h"
#include "trainer/train/progress_reporter.h"

namespace ofa::trainer {

struct SpecializeOptions {
  // The job's output directory: the phase keeps its state under phases/<phase>/ and exports
  // each target's sub-network to export/<target>/.
  std::string output_dir;
  std::string phase_name = "specialize";
  std::string job_id;  // Recorded in each ONNX model's metadata.
  int64_t batch_size = 256;  // Evaluation and BN recalibration batches.
  ProgressReporter* progress = nullptr;  // Required.
};

// The specialise phase (OFA paper, section 3.3), on the trained supernet `model`:
//  1. measures predictor_samples random sub-networks on the validation split, each after BN
//     recalibration (appended to phases/<phase>/predictor_samples.jsonl as measured, so a
//     restarted phase measures only what is missing);
//  2. trains the accuracy predictor on them;
//  3. per deployment target, searches the sub-network of best predicted top-1 that meets
//     every budget (evolutionary search);
//  4. evaluates each choice on the test split (BN recalibrated) and exports it to
//     export/<target>/: LibTorch weights, an ONNX model (model.onnx) and a subnet.json
//     describing both; a target already exported, its files intact, is kept.
// Emits a "subnet_exported" progress event per target carrying the Subnet (paths relative to
// output_dir) and returns them in target order. FAILED_PRECONDITION without a validation split
// or when a target's budget admits no sub-network (named).
absl::StatusOr<std::vector<ofa::v1::Subnet>> RunSpecializePhase(OfaSupernet& model,
                                                                const DatasetSplits& data,
                                                                const ofa::v1::JobSpec& spec,
                                                                const SpecializeOptions& options);

// The pieces of the phase a benchmark or tool needs to do exactly what it does.
// The measured samples already in `path` that are still valid for this spec (the same draw
// at the same index), at most `wanted`; the file is rewritten to that prefix if anything after
// it was stale (a torn last line, another spec's samples).
std::vector<AccuracySample> LoadPredictorSamples(const std::string& path,
                                                 const SupernetArchitecture& arch, uint64_t seed,
                                                 int wanted);
// BN recalibration batches and the seed of their draw, shared by every evaluation of the phase.
int SpecializeCalibrationBatches(const ofa::v1::JobSpec& spec);
uint64_t SpecializeEvalSeed(const ofa::v1::JobSpec& spec);
// The evolutionary search of the spec's `target_index`-th target.
EvolutionOptions SpecializeSearchOptions(const ofa::v1::JobSpec& spec, int target_index);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_TRAIN_SPECIALIZE_PHASE_H_
