#include "trainer/data/batch_loader.h"

#include <algorithm>

#include "trainer/common/stream_seed.h"

namespace ofa::trainer {
namespace {

constexpr int kCropPadding = 2;

}  // namespace

BatchLoader::BatchLoader(const ImageDataset& data, Options options)
    : data_(data), options_(options) {
  const int64_t channels = data.images.size(1);
  mean_ = torch::tensor(data.mean).view({1, channels, 1, 1});
  std_ = torch::tensor(data.std).view({1, channels, 1, 1});
}

BatchLoader::~BatchLoader() {
  if (prefetched_.valid()) prefetched_.wait();
}

int64_t BatchLoader::batches_per_epoch() const {
  const int64_t per_rank = data_.size() / options_.world_size;
  if (options_.train) return per_rank / options_.batch_size;
  return (per_rank + options_.batch_size - 1) / options_.batch_size;
}

Batch BatchLoader::Get(const LoaderPosition& position) const {
  const int64_t world = options_.world_size;
  const int64_t per_rank = data_.size() / world;
  const int64_t begin = position.batch * options_.batch_size;
  const int64_t count = std::min(options_.batch_size, per_rank - begin);
  // Permutation positions of this rank's samples in the batch.
  torch::Tensor slots = (torch::arange(begin, begin + count) * world + options_.rank);
  torch::Tensor indices = slots;
  torch::Tensor flips, offsets;
  if (options_.train) {
    auto generator = at::detail::createCPUGenerator(
        StreamSeed(options_.seed, {kSeedShuffle, static_cast<uint64_t>(position.epoch)}));
    indices = torch::randperm(data_.size(), generator, torch::kInt64).index_select(0, slots);
    auto augment = at::detail::createCPUGenerator(
        StreamSeed(options_.seed, {kSeedAugment, static_cast<uint64_t>(position.epoch)}));
    flips = torch::randint(0, 2, {data_.size()}, augment, torch::kInt64).index_select(0, slots);
    offsets = torch::randint(0, 2 * kCropPadding + 1, {data_.size(), 2}, augment, torch::kInt64)
                  .index_select(0, slots);
  }
  torch::Tensor images = data_.images.index_select(0, indices).to(torch::kFloat).div_(255);
  images = (images - mean_) / std_;
  if (options_.train) {
    const int64_t h = images.size(2), w = images.size(3);
    torch::Tensor padded = torch::constant_pad_nd(
        images, {kCropPadding, kCropPadding, kCropPadding, kCropPadding}, 0);
    auto flip = flips.accessor<int64_t, 1>();
    auto offset = offsets.accessor<int64_t, 2>();
    for (int64_t i = 0; i < count; ++i) {
      torch::Tensor crop = padded[i].narrow(1, offset[i][0], h).narrow(2, offset[i][1], w);
      images[i].copy_(flip[i] ? crop.flip({2}) : crop);
    }
  }
  return {images, data_.labels.index_select(0, indices)};
}

void BatchLoader::Prefetch() {
  prefetched_position_ = position_;
  prefetched_ = std::async(std::launch::async, [this, p = position_] { return Get(p); });
}

Batch BatchLoader::Next() {
  if (!prefetched_.valid() || !(prefetched_position_ == position_)) Prefetch();
  Batch batch = prefetched_.get();
  if (++position_.batch >= batches_per_epoch()) {
    position_.batch = 0;
    ++position_.epoch;
  }
  Prefetch();
  return batch;
}

void BatchLoader::Seek(const LoaderPosition& position) {
  if (prefetched_.valid()) prefetched_.wait();
  position_ = position;
}

}  // namespace ofa::trainer
