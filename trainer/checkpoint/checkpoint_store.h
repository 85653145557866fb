#ifndef OFA_TRAINER_CHECKPOINT_CHECKPOINT_STORE_H_
#define OFA_TRAINER_CHECKPOINT_CHECKPOINT_STORE_H_

#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "nlohmann/json.hpp"

namespace ofa::trainer {

// What a checkpoint holds. `model` is required; `optimizer` may be null (weights only).
struct CheckpointData {
  torch::nn::Module* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  nlohmann::json state;  // Phase, step, loader position, seed, ...
};

// The checkpoints of one phase attempt: directories ROOT/step-NNNNNNNNNN (periodic) and
// ROOT/final (phase end). Each holds model.pt, optimizer.pt (optional), state.json and
// manifest.json with the SHA-256 of every other file. A checkpoint is written under a
// temporary name, fsynced, then renamed into place, so a crash never leaves a partial
// checkpoint under a real name; one whose checksums do not verify is skipped by LatestValid.
// Not thread-safe; one writer per root.
class CheckpointStore {
 public:
  explicit CheckpointStore(std::string root);

  const std::string& root() const { return root_; }

  // Writes checkpoint `name` ("final" or StepName(step)), replacing one of that name.
  absl::Status Save(const std::string& name, const CheckpointData& data);

  // Loads `name` into data.model (and data.optimizer when set and saved), fills data.state.
  // DATA_LOSS if a checksum does not verify, NOT_FOUND if absent, INVALID_ARGUMENT if the
  // tensors do not fit the model.
  absl::Status Load(const std::string& name, CheckpointData& data) const;

  // Names of checkpoints present (verified or not), newest first: "final", then steps.
  std::vector<std::string> List() const;
  // The newest checkpoint whose files verify; NOT_FOUND if none.
  absl::StatusOr<std::string> LatestValid() const;
  // OK if every file of `name` matches its manifest.
  absl::Status Verify(const std::string& name) const;
  // Deletes all but the newest `keep` periodic checkpoints ("final" is always kept).
  absl::Status Prune(int keep);

  static std::string StepName(int64_t step);

 private:
  std::string root_;
};

// Lower-case hex SHA-256 of a file's contents.
absl::StatusOr<std::string> Sha256OfFile(const std::string& path);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_CHECKPOINT_CHECKPOINT_STORE_H_
