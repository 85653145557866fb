#include "trainer/train/phase_trainer.h"

#include <chrono>

#include <ATen/Parallel.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "trainer/common/stream_seed.h"
#include "trainer/data/batch_loader.h"
#include "trainer/train/lr_schedule.h"
#include "trainer/train/sgd_optimizer.h"
#include "trainer/train/train_step.h"

namespace ofa::trainer {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

PhaseTrainer::PhaseTrainer(OfaSupernet model, OfaSupernet teacher, const ImageDataset& train,
                           PhaseRunConfig config, CheckpointStore& store,
                           ProgressReporter& progress)
    : model_(std::move(model)),
      teacher_(std::move(teacher)),
      train_(train),
      config_(std::move(config)),
      store_(store),
      progress_(progress) {}

absl::StatusOr<std::unique_ptr<GradientReducer>> PhaseTrainer::JoinRanks(int64_t step) {
  const std::string& name = config_.phase.name();
  if (communicator == nullptr || communicator->world_size() != config_.world_size ||
      communicator->rank() != config_.rank) {
    return absl::InvalidArgumentError(absl::StrCat(
        "phase ", name, ": rank ", config_.rank, " of ", config_.world_size,
        " needs a communicator of that rank and world size"));
  }
  // Every rank must continue from the same step: they resumed from the same checkpoint.
  std::vector<torch::Tensor> steps = {torch::full({1}, static_cast<float>(step))};
  if (absl::Status s = communicator->Broadcast(steps, 0); !s.ok()) return s;
  if (steps[0].item<float>() != static_cast<float>(step)) {
    return absl::FailedPreconditionError(absl::StrFormat(
        "phase %s: rank %d resumed at step %d but rank 0 at step %.0f; every rank must read "
        "the same checkpoint directory (shared storage)",
        name, config_.rank, step, steps[0].item<float>()));
  }
  // Rank 0's weights and BN statistics are everyone's starting point.
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> state;
  for (const torch::Tensor& t : model_->parameters()) state.push_back(t);
  for (const torch::Tensor& t : model_->buffers()) {
    if (t.scalar_type() == torch::kFloat) state.push_back(t);
  }
  if (absl::Status s = communicator->Broadcast(state, 0); !s.ok()) return s;
  return std::make_unique<GradientReducer>(model_->parameters(), *communicator,
                                           GradientReducer::Options{config_.bucket_bytes});
}

absl::StatusOr<bool> PhaseTrainer::AnyRankAskedToStop() {
  const bool here = config_.stop_requested != nullptr && config_.stop_requested->load();
  if (config_.world_size == 1 || config_.stop_requested == nullptr) return here;
  // One element per step: small next to the step's gradient all-reduce.
  std::vector<torch::Tensor> flag = {torch::full({1}, here ? 1.0f : 0.0f)};
  if (absl::Status s = communicator->AllReduce(flag, ReduceOp::kSum); !s.ok()) return s;
  return flag[0].item<float>() > 0;
}

absl::StatusOr<PhaseOutcome> PhaseTrainer::Run() {
  const ofa::v1::PhaseSpec& phase = config_.phase;
  BatchLoader loader(train_, {.batch_size = config_.batch_size,
                              .rank = config_.rank,
                              .world_size = config_.world_size,
                              .seed = StreamSeed(config_.seed, {static_cast<uint64_t>(
                                                                    config_.phase_index)}),
                              .train = true});
  const int64_t steps_per_epoch = loader.batches_per_epoch();
  if (steps_per_epoch == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "phase ", phase.name(), ": the training split (", train_.size(),
        " images) is smaller than one global batch of ", config_.batch_size * config_.world_size));
  }
  const int64_t total_steps = steps_per_epoch * phase.epochs();
  const int64_t global_batch = config_.batch_size * config_.world_size;
  // Learning rates are specified per 256 images and scale linearly with the batch.
  const CosineLrSchedule schedule(phase.learning_rate() * global_batch / 256.0,
                                  static_cast<int64_t>(phase.warmup_epochs() * steps_per_epoch),
                                  total_steps);
  model_->train();
  std::unique_ptr<torch::optim::SGD> optimizer =
      MakeSgdOptimizer(model_, config_.momentum, config_.weight_decay);

  PhaseOutcome outcome;
  outcome.steps = total_steps;
  int64_t step = 0;
  if (absl::StatusOr<std::string> latest = store_.LatestValid(); latest.ok()) {
    CheckpointData data{model_.get(), optimizer.get(), {}};
    if (absl::Status s = store_.Load(*latest, data); !s.ok()) return s;
    step = data.state.value("step", int64_t{0});
    loader.Seek({data.state.value("epoch", int64_t{0}), data.state.value("batch", int64_t{0})});
    outcome.resumed = true;
    progress_.Event("phase_resumed",
                    absl::StrFormat("phase %s: resumed from checkpoint %s at step %d/%d",
                                    phase.name(), *latest, step, total_steps),
                    {{"phase", phase.name()}, {"step", step}, {"checkpoint", *latest}});
  } else if (config_.sort_channels) {
    model_->SortChannelsByImportance(config_.kept_expand_ratios);
  }

  int64_t saved_step = outcome.resumed ? step : -1;  // Of the newest checkpoint there is.
  auto save = [&](const std::string& name) -> absl::Status {
    const LoaderPosition p = loader.position();
    nlohmann::json state = {{"phase", phase.name()}, {"phase_index", config_.phase_index},
                            {"step", step},          {"total_steps", total_steps},
                            {"epoch", p.epoch},      {"batch", p.batch},
                            {"seed", config_.seed}};
    if (absl::Status s = store_.Save(name, {model_.get(), optimizer.get(), state}); !s.ok()) {
      return s;
    }
    saved_step = step;
    progress_.Event("checkpoint", absl::StrFormat("phase %s: checkpoint %s at step %d",
                                                  phase.name(), name, step),
                    {{"phase", phase.name()}, {"step", step}, {"checkpoint", name}});
    return store_.Prune(config_.keep_checkpoints);
  };

  std::unique_ptr<GradientReducer> reducer;
  if (config_.world_size > 1) {
    absl::StatusOr<std::unique_ptr<GradientReducer>> joined = JoinRanks(step);
    if (!joined.ok()) return joined.status();
    reducer = *std::move(joined);
  }

  const int kernel_threads = at::get_num_threads();
  const Clock::time_point start = Clock::now();
  Clock::time_point last_checkpoint = start;
  Clock::time_point window_start = start;
  int64_t window_steps = 0;
  double window_loss = 0;
  const int64_t first_step = step;
  if (!teacher_.is_empty()) teacher_->eval();

  while (step < total_steps) {
    if (config_.stop_after_step >= 0 && step >= config_.stop_after_step) {
      return absl::AbortedError(absl::StrCat("phase ", phase.name(), ": stopped after step ",
                                             step, " as requested"));
    }
    absl::StatusOr<bool> stop = AnyRankAskedToStop();
    if (!stop.ok()) return stop.status();
    if (*stop) {
      // Rank 0 checkpoints where every rank stopped, unless there is one of this step
      // already (periodic, or the one this call resumed from) or nothing to keep (step 0).
      const std::string checkpoint =
          step == 0 ? "none (stopped before the first step)" : CheckpointStore::StepName(step);
      if (step > 0 && saved_step != step && config_.rank == 0) {
        if (absl::Status s = save(checkpoint); !s.ok()) return s;
      }
      if (reducer != nullptr) {
        if (absl::Status s = communicator->Barrier(); !s.ok()) return s;
      }
      const std::string message =
          absl::StrFormat("phase %s: stopped on request at step %d/%d; checkpoint: %s",
                          phase.name(), step, total_steps, checkpoint);
      progress_.Event("stopped", message, {{"phase", phase.name()}, {"step", step}});
      return absl::CancelledError(message);
    }
    SetLearningRate(*optimizer, schedule.At(step));
    ZeroGradients(model_->parameters());
    Batch batch;
    try {
      batch = loader.Next();
    } catch (const std::exception& e) {
      return absl::DataLossError(absl::StrCat("phase ", phase.name(), ", step ", step, ": ",
                                              e.what()));
    }
    const StepContext context{.seed = config_.seed,
                              .phase_index = config_.phase_index,
                              .step = step,
                              .label_smoothing = config_.label_smoothing,
                              .micro_batches = config_.micro_batches,
                              .first_shard = config_.rank * config_.micro_batches,
                              .kernel_threads = kernel_threads,
                              .reducer = reducer.get()};
    absl::StatusOr<StepResult> result = AccumulateGradients(model_, teacher_, batch, phase,
                                                            context);
    if (!result.ok()) {
      return absl::Status(result.status().code(),
                          absl::StrCat("phase ", phase.name(), ", step ", step, ": ",
                                       result.status().message()));
    }
    outcome.training_flops += result->training_flops;
    optimizer->step();
    ++step;
    ++window_steps;
    window_loss += result->loss;
    outcome.final_loss = result->loss;
    if (!std::isfinite(outcome.final_loss)) {
      return absl::InternalError(absl::StrCat("phase ", phase.name(), ": loss became ",
                                              outcome.final_loss, " at step ", step,
                                              "; lower the learning rate"));
    }

    const Clock::time_point now = Clock::now();
    const double window = std::chrono::duration<double>(now - window_start).count();
    const bool last = step == total_steps;
    if (window >= 5.0 || last) {
      const double rate = window_steps * global_batch / std::max(window, 1e-9);
      const double elapsed = std::chrono::duration<double>(now - start).count();
      const double eta = elapsed / (step - first_step) * (total_steps - step);
      progress_.Progress({phase.name(), step, total_steps, loader.position().epoch,
                          window_loss / window_steps, rate, eta, outcome.training_flops},
                         /*force=*/last);
      window_start = now;
      window_steps = 0;
      window_loss = 0;
    }
    const bool by_steps = config_.checkpoint_every_steps > 0 &&
                          step % config_.checkpoint_every_steps == 0;
    const bool by_time =
        config_.checkpoint_interval_seconds > 0 &&
        std::chrono::duration<double>(now - last_checkpoint).count() >=
            config_.checkpoint_interval_seconds;
    if (!last && (by_steps || by_time) && config_.rank == 0) {
      if (absl::Status s = save(CheckpointStore::StepName(step)); !s.ok()) return s;
      last_checkpoint = now;
    }
  }
  if (config_.rank == 0) {
    if (absl::Status s = save("final"); !s.ok()) return s;
  }
  // The next phase (and its teacher) starts from "final": no rank goes on before it exists.
  if (reducer != nullptr) {
    if (absl::Status s = communicator->Barrier(); !s.ok()) return s;
  }
  outcome.steps_run = step - first_step;
  outcome.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return outcome;
}

}  // namespace ofa::trainer
