#ifndef OFA_TRAINER_DATA_BATCH_LOADER_H_
#define OFA_TRAINER_DATA_BATCH_LOADER_H_

#include <cstdint>
#include <future>
#include <mutex>

#include <torch/torch.h>

#include "trainer/data/image_dataset.h"

namespace ofa::trainer {

// Where a loader is in its stream of batches; saved in checkpoints.
struct LoaderPosition {
  int64_t epoch = 0;
  int64_t batch = 0;  // Next batch to produce within the epoch.
  bool operator==(const LoaderPosition& o) const { return epoch == o.epoch && batch == o.batch; }
};

struct Batch {
  torch::Tensor images;  // float [B, C, H, W], normalised
  torch::Tensor labels;  // int64 [B]
};

// Cuts a data set into batches for one rank of `world_size`. Training loaders reshuffle every
// epoch with a permutation seeded by (seed, epoch) and give rank r the permutation's entries
// r, r + world, r + 2 world, ... so the ranks' batch b together are exactly the single-rank
// batch b of world x the size. Augmentation (random crop after 2-pixel padding, horizontal
// flip; the set's random_crop and random_flip switch each off) is drawn per image from (seed,
// epoch, permutation position), so it does not depend on the rank either. File-backed sets
// (image folders) are decoded per batch on the set's decode_threads, with a random-resized
// crop and flip for training and a centre crop for evaluation, drawn per image. Every batch is a
// pure function of (data, options, position): resuming at a saved position continues exactly.
// The next batch is prepared while the current one trains, on one background thread that all
// loaders of the process share. A file that cannot be decoded makes Get/Next throw
// std::runtime_error naming it. Not thread-safe; the dataset must outlive the loader.
class BatchLoader {
 public:
  struct Options {
    int64_t batch_size = 128;
    int rank = 0;
    int world_size = 1;
    uint64_t seed = 0;
    bool train = true;  // Shuffle, augment and drop the last partial batch.
  };

  BatchLoader(const ImageDataset& data, Options options);
  ~BatchLoader();

  int64_t batches_per_epoch() const;
  // The batch at `position` (no prefetching involved).
  Batch Get(const LoaderPosition& position) const;
  // The batch at position(), then advances (to the next epoch after the last batch).
  Batch Next();
  LoaderPosition position() const { return position_; }
  void Seek(const LoaderPosition& position);

 private:
  void Prefetch();
  torch::Tensor EpochPermutation(int64_t epoch) const;

  const ImageDataset& data_;
  Options options_;
  LoaderPosition position_;
  torch::Tensor mean_, std_;  // [1, C, 1, 1]
  std::future<Batch> prefetched_;
  LoaderPosition prefetched_position_;
  // The training permutation of one epoch, cached (Get runs on the prefetch thread too).
  mutable std::mutex permutation_mutex_;
  mutable int64_t permutation_epoch_ = -1;
  mutable torch::Tensor permutation_;
};

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DATA_BATCH_LOADER_H_
