#include "trainer/data/batch_loader.h"

#include <algorithm>
#include <stdexcept>
#include <string>
#include <thread>

#include "trainer/common/background_thread.h"
#include "trainer/common/kernel_threads.h"
#include "trainer/common/stream_seed.h"
#include "trainer/data/image_transforms.h"
#include "trainer/data/jpeg_image.h"

namespace ofa::trainer {
namespace {

constexpr int kCropPadding = 2;

// Decodes `indices` of a file-backed set into normalised float [count, 3, S, S] on the set's
// decode threads. Training crops and flips are drawn per image from (seed, epoch, slot), so
// the batch does not depend on the thread count or the rank. Throws std::runtime_error naming
// the first file that failed (the trainer turns it into an error status).
torch::Tensor DecodeFiles(const ImageDataset& data, const torch::Tensor& indices,
                          const torch::Tensor& slots, bool train, uint64_t seed, int64_t epoch) {
  const int64_t count = indices.size(0);
  const int size = data.image_size;
  torch::Tensor out = torch::empty({count, 3, size, size}, torch::kFloat);
  const auto index = indices.accessor<int64_t, 1>();
  const auto slot = slots.accessor<int64_t, 1>();
  const int64_t image_floats = 3LL * size * size;
  float scale[3], bias[3];  // (v / 255 - mean) / std = v * scale + bias
  for (int c = 0; c < 3; ++c) {
    scale[c] = 1.0f / (255.0f * data.std[c]);
    bias[c] = -data.mean[c] / data.std[c];
  }
  std::vector<std::string> errors(count);
  auto work = [&](int64_t first, int64_t step) {
    RgbImage image;  // Reused: decoding allocates no buffer per image.
    for (int64_t i = first; i < count; i += step) {
      const std::string& path = data.files[index[i]];
      if (absl::Status s = DecodeJpegFileInto(path, size, image); !s.ok()) {
        errors[i] = std::string(s.message());
        continue;
      }
      CropBox box = CenterCropBox(image.width, image.height);
      bool flip = false;
      if (train) {
        SplitMix64 rng(StreamSeed(seed, {kSeedAugment, static_cast<uint64_t>(epoch),
                                         static_cast<uint64_t>(slot[i])}));
        // Both draws are made either way, so switching one off leaves the other unchanged.
        const CropBox random_box = RandomResizedCropBox(image.width, image.height, rng);
        if (data.random_crop) box = random_box;
        flip = rng.Below(2) == 1 && data.random_flip;
      }
      ResizeCropToPlanar(image, box, size, flip, scale, bias,
                         out.data_ptr<float>() + i * image_floats);
    }
  };
  const int threads = static_cast<int>(std::clamp<int64_t>(data.decode_threads, 1, count));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, t, threads);
  work(0, threads);
  for (std::thread& t : pool) t.join();
  for (const std::string& error : errors) {
    if (!error.empty()) throw std::runtime_error("data loader: " + error);
  }
  return out;
}

// The thread every loader prepares its next batch on. One for the process, made once and
// never destroyed: LibTorch initialises each new thread that calls it, and that rebuilds its
// thread pool and clears oneDNN's primitive cache (see BackgroundThread). A training phase
// and each sub-network evaluation would otherwise pay it again.
BackgroundThread& PrefetchThread() {
  static BackgroundThread* const thread = [] {
    auto* t = new BackgroundThread;
    // The training thread owns the cores; a second OpenMP team here would fight it.
    t->Submit([] { LimitKernelThreadsOfThisThread(1); });
    return t;
  }();
  return *thread;
}

}  // namespace

BatchLoader::BatchLoader(const ImageDataset& data, Options options)
    : data_(data), options_(options) {
  const int64_t channels = data.channels();
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
  // Training: the epoch's permutation, drawn once per epoch rather than once per batch.
  const torch::Tensor indices =
      options_.train ? EpochPermutation(position.epoch).index_select(0, slots) : slots;
  if (data_.file_backed()) {
    return {DecodeFiles(data_, indices, slots, options_.train, options_.seed, position.epoch),
            data_.labels.index_select(0, indices)};
  }
  torch::Tensor images = data_.images.index_select(0, indices).to(torch::kFloat).div_(255);
  images = (images - mean_) / std_;
  if (options_.train && (data_.random_crop || data_.random_flip)) {
    const int64_t h = images.size(2), w = images.size(3);
    torch::Tensor padded = torch::constant_pad_nd(
        images, {kCropPadding, kCropPadding, kCropPadding, kCropPadding}, 0);
    const auto slot = slots.accessor<int64_t, 1>();
    for (int64_t i = 0; i < count; ++i) {
      // Per image, from (seed, epoch, slot): independent of the rank and the batch size.
      SplitMix64 rng(StreamSeed(options_.seed, {kSeedAugment, static_cast<uint64_t>(position.epoch),
                                                static_cast<uint64_t>(slot[i])}));
      int64_t dy = static_cast<int64_t>(rng.Below(2 * kCropPadding + 1));
      int64_t dx = static_cast<int64_t>(rng.Below(2 * kCropPadding + 1));
      if (!data_.random_crop) dy = dx = kCropPadding;
      torch::Tensor crop = padded[i].narrow(1, dy, h).narrow(2, dx, w);
      const bool flip = rng.Below(2) == 1 && data_.random_flip;
      images[i].copy_(flip ? crop.flip({2}) : crop);
    }
  }
  return {images, data_.labels.index_select(0, indices)};
}

torch::Tensor BatchLoader::EpochPermutation(int64_t epoch) const {
  std::lock_guard<std::mutex> lock(permutation_mutex_);
  if (permutation_epoch_ != epoch) {
    auto generator = at::detail::createCPUGenerator(
        StreamSeed(options_.seed, {kSeedShuffle, static_cast<uint64_t>(epoch)}));
    permutation_ = torch::randperm(data_.size(), generator, torch::kInt64);
    permutation_epoch_ = epoch;
  }
  return permutation_;
}

void BatchLoader::Prefetch() {
  prefetched_position_ = position_;
  prefetched_ = PrefetchThread().Submit([this, p = position_] { return Get(p); });
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
