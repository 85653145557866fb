#include <zlib.h>

#include <fstream>
#include <set>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/data/batch_loader.h"
#include "trainer/data/idx_file.h"
#include "trainer/data/image_dataset.h"

namespace ofa::trainer {
namespace {

using ::testing::HasSubstr;

std::string TempPath(const std::string& name) { return ::testing::TempDir() + "/" + name; }

void WriteGzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  gzwrite(f, bytes.data(), bytes.size());
  gzclose(f);
}

std::vector<uint8_t> IdxImages(uint32_t n, uint32_t h, uint32_t w) {
  std::vector<uint8_t> b = {0, 0, 8, 3};
  for (uint32_t d : {n, h, w}) {
    for (int s = 24; s >= 0; s -= 8) b.push_back((d >> s) & 0xff);
  }
  for (uint32_t i = 0; i < n * h * w; ++i) b.push_back(i % 251);
  return b;
}

TEST(IdxFileTest, ReadsGzippedImagesAndRejectsTruncation) {
  std::vector<uint8_t> bytes = IdxImages(3, 4, 5);
  WriteGzip(TempPath("ok.gz"), bytes);
  absl::StatusOr<torch::Tensor> images = ReadIdxImages(TempPath("ok.gz"));
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->sizes(), torch::IntArrayRef({3, 1, 4, 5}));
  EXPECT_EQ((*images)[2][0][3][4].item<int>(), 59);  // Element 59 of the payload.

  bytes.resize(bytes.size() - 7);
  WriteGzip(TempPath("short.gz"), bytes);
  EXPECT_THAT(std::string(ReadIdxImages(TempPath("short.gz")).status().message()),
              HasSubstr("header says 60 bytes of data, file has 53"));
  EXPECT_THAT(std::string(ReadIdxLabels(TempPath("ok.gz")).status().message()),
              HasSubstr("IDX magic 0x803, want 0x801"));
  EXPECT_EQ(ReadIdxImages(TempPath("missing.gz")).status().code(), absl::StatusCode::kNotFound);
}

TEST(ImageDatasetTest, LoadsDebianFashionMnistWithAHeldOutSplit) {
  ofa::v1::DatasetSpec spec;
  spec.set_kind(ofa::v1::DATASET_KIND_FASHION_MNIST);
  spec.set_validation_fraction(0.1);
  absl::StatusOr<DatasetSplits> splits = LoadDataset(spec, "/nonexistent", 3);
  ASSERT_TRUE(splits.ok()) << splits.status();
  EXPECT_EQ(splits->train.size(), 54000);
  EXPECT_EQ(splits->validation.size(), 6000);
  EXPECT_EQ(splits->test.size(), 10000);
  EXPECT_EQ(splits->train.images.sizes(), torch::IntArrayRef({54000, 1, 28, 28}));
  // Every class appears, labels are in range.
  EXPECT_EQ(std::get<0>(at::_unique(splits->test.labels)).numel(), 10);
  // Same seed, same split.
  absl::StatusOr<DatasetSplits> again = LoadDataset(spec, "/nonexistent", 3);
  EXPECT_TRUE(torch::equal(again->validation.labels, splits->validation.labels));
}

TEST(ImageDatasetTest, MissingImageFolderIsAnErrorNamingIt) {
  ofa::v1::DatasetSpec spec;
  spec.set_kind(ofa::v1::DATASET_KIND_IMAGE_FOLDER);
  spec.set_root("imagenet");
  absl::StatusOr<DatasetSplits> splits = LoadDataset(spec, "/nonexistent-data-root", 0);
  EXPECT_EQ(splits.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(splits.status().message(), HasSubstr("/nonexistent-data-root/imagenet/train"));
}

ImageDataset SmallSynthetic(
    int64_t n, ofa::v1::Augmentation augmentation = ofa::v1::AUGMENTATION_UNSPECIFIED) {
  ofa::v1::DatasetSpec spec;
  spec.set_augmentation(augmentation);
  spec.set_kind(ofa::v1::DATASET_KIND_SYNTHETIC);
  auto* s = spec.mutable_synthetic();
  s->set_train_images(n);
  s->set_test_images(4);
  s->set_image_size(8);
  s->set_channels(1);
  s->set_num_classes(5);
  return LoadDataset(spec, "", 9).value().train;
}

TEST(BatchLoaderTest, TwoRanksSplitExactlyTheOneRankBatch) {
  ImageDataset data = SmallSynthetic(100);
  BatchLoader one(data, {.batch_size = 8, .rank = 0, .world_size = 1, .seed = 4, .train = true});
  BatchLoader r0(data, {.batch_size = 4, .rank = 0, .world_size = 2, .seed = 4, .train = true});
  BatchLoader r1(data, {.batch_size = 4, .rank = 1, .world_size = 2, .seed = 4, .train = true});
  ASSERT_EQ(one.batches_per_epoch(), 12);
  ASSERT_EQ(r0.batches_per_epoch(), 12);
  for (LoaderPosition p : {LoaderPosition{0, 0}, LoaderPosition{0, 11}, LoaderPosition{3, 5}}) {
    Batch whole = one.Get(p);
    Batch a = r0.Get(p), b = r1.Get(p);
    // Interleaved: rank 0 holds even permutation slots, rank 1 odd ones.
    torch::Tensor merged = torch::stack({a.images, b.images}, 1).flatten(0, 1);
    EXPECT_TRUE(torch::equal(merged, whole.images));
    EXPECT_TRUE(torch::equal(torch::stack({a.labels, b.labels}, 1).flatten(), whole.labels));
  }
}

TEST(BatchLoaderTest, EpochsReshuffleAndResumeIsExact) {
  ImageDataset data = SmallSynthetic(64);
  BatchLoader loader(data, {.batch_size = 16, .seed = 1, .train = true});
  std::vector<Batch> seen;
  for (int i = 0; i < 6; ++i) seen.push_back(loader.Next());
  EXPECT_EQ(loader.position(), (LoaderPosition{1, 2}));
  EXPECT_FALSE(torch::equal(seen[0].labels, seen[4].labels));  // Epoch 1 reshuffled.
  BatchLoader resumed(data, {.batch_size = 16, .seed = 1, .train = true});
  resumed.Seek({1, 1});
  EXPECT_TRUE(torch::equal(resumed.Next().images, seen[5].images));
}

TEST(BatchLoaderTest, EvaluationCoversEverySampleOnceInOrder) {
  ImageDataset data = SmallSynthetic(10);
  BatchLoader loader(data, {.batch_size = 4, .seed = 1, .train = false});
  ASSERT_EQ(loader.batches_per_epoch(), 3);
  std::vector<torch::Tensor> labels;
  for (int i = 0; i < 3; ++i) labels.push_back(loader.Next().labels);
  EXPECT_TRUE(torch::equal(torch::cat(labels), data.labels));
}

// The 25 shifts of a [C, H, W] image that a 2-pixel-padded random crop can produce.
std::vector<torch::Tensor> PaddedCrops(const torch::Tensor& image) {
  const int64_t h = image.size(1), w = image.size(2);
  const torch::Tensor padded = torch::constant_pad_nd(image, {2, 2, 2, 2}, 0);
  std::vector<torch::Tensor> crops;
  for (int64_t dy = 0; dy <= 4; ++dy) {
    for (int64_t dx = 0; dx <= 4; ++dx) crops.push_back(padded.narrow(1, dy, h).narrow(2, dx, w));
  }
  return crops;
}

bool IsOneOf(const torch::Tensor& image, const std::vector<torch::Tensor>& candidates) {
  for (const torch::Tensor& c : candidates) {
    if (torch::equal(image, c)) return true;
  }
  return false;
}

TEST(BatchLoaderTest, AugmentationFollowsTheSpec) {
  // One random (so asymmetric) image: every training batch is that image, augmented.
  for (auto augmentation : {ofa::v1::AUGMENTATION_UNSPECIFIED, ofa::v1::AUGMENTATION_CROP_FLIP,
                            ofa::v1::AUGMENTATION_CROP, ofa::v1::AUGMENTATION_NONE}) {
    SCOPED_TRACE(ofa::v1::Augmentation_Name(augmentation));
    const ImageDataset data = SmallSynthetic(1, augmentation);
    const torch::Tensor image =
        BatchLoader(data, {.batch_size = 1, .train = false}).Get({0, 0}).images[0];
    const std::vector<torch::Tensor> crops = PaddedCrops(image);
    const std::vector<torch::Tensor> flipped_crops = PaddedCrops(image.flip({2}));
    BatchLoader loader(data, {.batch_size = 1, .seed = 3, .train = true});
    int unchanged = 0, shifted = 0, flipped = 0;
    for (int epoch = 0; epoch < 40; ++epoch) {
      const torch::Tensor seen = loader.Get({epoch, 0}).images[0];
      if (torch::equal(seen, image)) {
        ++unchanged;
      } else if (IsOneOf(seen, crops)) {
        ++shifted;
      } else {
        ASSERT_TRUE(IsOneOf(seen, flipped_crops)) << "epoch " << epoch;
        ++flipped;
      }
    }
    const bool crop = augmentation != ofa::v1::AUGMENTATION_NONE;
    const bool flip =
        augmentation != ofa::v1::AUGMENTATION_NONE && augmentation != ofa::v1::AUGMENTATION_CROP;
    EXPECT_EQ(shifted > 0, crop);
    EXPECT_EQ(flipped > 0, flip);
    if (!crop && !flip) {
      EXPECT_EQ(unchanged, 40);
    }
  }
}

}  // namespace
}  // namespace ofa::trainer
