#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "trainer/data/batch_loader.h"
#include "trainer/data/image_dataset.h"
#include "trainer/data/image_folder.h"
#include "trainer/data/image_transforms.h"
#include "trainer/data/jpeg_image.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

// A width x height image whose red channel ramps left to right and green top to bottom.
RgbImage Ramp(int width, int height, uint8_t blue) {
  RgbImage image{width, height, std::vector<uint8_t>(width * height * 3)};
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      uint8_t* p = &image.pixels[(y * width + x) * 3];
      p[0] = static_cast<uint8_t>(255 * x / (width - 1));
      p[1] = static_cast<uint8_t>(255 * y / (height - 1));
      p[2] = blue;
    }
  }
  return image;
}

std::string FreshDir(const std::string& name) {
  const fs::path dir = fs::path(::testing::TempDir()) / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir.string();
}

// ROOT/{train,val}/{bright,dark}/N.jpg: "bright" images have blue 230, "dark" ones 20.
std::string MakeImageFolder(const std::string& name, int per_class) {
  const std::string root = FreshDir(name);
  for (const char* split : {"train", "val"}) {
    for (const auto& [cls, blue] : {std::pair{"bright", 230}, std::pair{"dark", 20}}) {
      const fs::path dir = fs::path(root) / split / cls;
      fs::create_directories(dir);
      for (int i = 0; i < per_class; ++i) {
        // Sizes vary so crops and DCT scaling see different shapes.
        const RgbImage image = Ramp(40 + 8 * i, 30 + 4 * i, static_cast<uint8_t>(blue));
        EXPECT_TRUE(EncodeJpegFile(image, (dir / (std::to_string(i) + ".jpg")).string()).ok());
      }
    }
  }
  return root;
}

TEST(JpegImageTest, RoundTripsWithinJpegError) {
  const std::string path = FreshDir("jpeg") + "/ramp.jpg";
  const RgbImage original = Ramp(64, 48, 100);
  ASSERT_TRUE(EncodeJpegFile(original, path).ok());
  absl::StatusOr<RgbImage> decoded = DecodeJpegFile(path);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  ASSERT_EQ(decoded->width, 64);
  ASSERT_EQ(decoded->height, 48);
  int worst = 0;
  for (size_t i = 0; i < original.pixels.size(); ++i) {
    worst = std::max(worst, std::abs(original.pixels[i] - decoded->pixels[i]));
  }
  EXPECT_LE(worst, 12);
}

TEST(JpegImageTest, DctScalingKeepsTheShorterSideAtLeastMinSide) {
  const std::string path = FreshDir("jpeg_scaled") + "/ramp.jpg";
  ASSERT_TRUE(EncodeJpegFile(Ramp(256, 192, 0), path).ok());
  absl::StatusOr<RgbImage> half = DecodeJpegFile(path, /*min_side=*/90);
  ASSERT_TRUE(half.ok()) << half.status();
  EXPECT_EQ(half->width, 128);  // 1/4 would make the shorter side 48 < 90.
  EXPECT_EQ(half->height, 96);
  absl::StatusOr<RgbImage> eighth = DecodeJpegFile(path, /*min_side=*/16);
  ASSERT_TRUE(eighth.ok());
  EXPECT_EQ(eighth->height, 24);
}

TEST(JpegImageTest, CorruptMissingAndTruncatedFilesAreErrorsNamingTheFile) {
  const std::string dir = FreshDir("jpeg_bad");
  std::ofstream(dir + "/text.jpg") << "this is not a JPEG";
  absl::StatusOr<RgbImage> text = DecodeJpegFile(dir + "/text.jpg");
  EXPECT_EQ(text.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(text.status().message(), HasSubstr("text.jpg"));

  ASSERT_TRUE(EncodeJpegFile(Ramp(64, 64, 0), dir + "/whole.jpg").ok());
  std::ifstream in(dir + "/whole.jpg", std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ofstream(dir + "/half.jpg", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  absl::StatusOr<RgbImage> half = DecodeJpegFile(dir + "/half.jpg");
  EXPECT_EQ(half.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(half.status().message(), HasSubstr("half.jpg"));

  EXPECT_EQ(DecodeJpegFile(dir + "/absent.jpg").status().code(), absl::StatusCode::kNotFound);
}

TEST(ImageTransformsTest, RandomResizedCropStaysInsideWithTorchvisionRanges) {
  SplitMix64 rng(7);
  for (int i = 0; i < 1000; ++i) {
    const int width = 50 + i % 300, height = 40 + (i * 7) % 200;
    const CropBox box = RandomResizedCropBox(width, height, rng);
    ASSERT_GE(box.x, 0);
    ASSERT_GE(box.y, 0);
    ASSERT_LE(box.x + box.width, width);
    ASSERT_LE(box.y + box.height, height);
    const double area = static_cast<double>(box.width) * box.height / (width * height);
    ASSERT_GE(area, 0.07) << "box " << box.width << "x" << box.height;
    ASSERT_LE(area, 1.0);
  }
  SplitMix64 a(3), b(3);
  const CropBox x = RandomResizedCropBox(500, 375, a), y = RandomResizedCropBox(500, 375, b);
  EXPECT_EQ(std::tie(x.x, x.y, x.width, x.height), std::tie(y.x, y.y, y.width, y.height));
}

TEST(ImageTransformsTest, ResizeKeepsRampsAndFlipMirrors) {
  const RgbImage image = Ramp(100, 80, 55);
  const CropBox centre = CenterCropBox(100, 80);
  EXPECT_EQ(centre.width, 70);  // 0.875 x 80
  EXPECT_EQ(centre.x, 15);
  std::vector<float> plain(3 * 8 * 8), mirrored(3 * 8 * 8), scaled(3 * 8 * 8);
  const float one[3] = {1, 1, 1}, zero[3] = {0, 0, 0}, half[3] = {0.5f, 0.5f, 0.5f};
  const float minus_one[3] = {-1, -1, -1};
  ResizeCropToPlanar(image, centre, 8, false, one, zero, plain.data());
  ResizeCropToPlanar(image, centre, 8, true, one, zero, mirrored.data());
  ResizeCropToPlanar(image, centre, 8, false, half, minus_one, scaled.data());
  for (size_t i = 0; i < plain.size(); ++i) EXPECT_FLOAT_EQ(scaled[i], plain[i] * 0.5f - 1);
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 8; ++x) {
      EXPECT_FLOAT_EQ(plain[2 * 64 + y * 8 + x], 55);                   // blue is flat
      if (x > 0) {
        EXPECT_GT(plain[y * 8 + x], plain[y * 8 + x - 1]);  // red ramps right
      }
      EXPECT_FLOAT_EQ(mirrored[y * 8 + x], plain[y * 8 + 7 - x]);       // flip mirrors
    }
    if (y > 0) {
      EXPECT_GT(plain[64 + y * 8], plain[64 + (y - 1) * 8]);  // green ramps down
    }
  }
}

TEST(ImageFolderTest, ScansClassesInOrderAndLoadsTheSplits) {
  const std::string root = MakeImageFolder("folder", 3);
  ofa::v1::DatasetSpec spec;
  spec.set_kind(ofa::v1::DATASET_KIND_IMAGE_FOLDER);
  spec.set_root("folder");
  absl::StatusOr<DatasetSplits> splits = LoadDataset(spec, ::testing::TempDir(), 1, 32);
  ASSERT_TRUE(splits.ok()) << splits.status();
  EXPECT_EQ(splits->train.size(), 6);
  EXPECT_EQ(splits->test.size(), 6);
  EXPECT_EQ(splits->train.num_classes, 2);
  EXPECT_EQ(splits->train.class_names, (std::vector<std::string>{"bright", "dark"}));
  EXPECT_EQ(splits->train.labels[0].item<int64_t>(), 0);
  EXPECT_EQ(splits->train.labels[5].item<int64_t>(), 1);
  EXPECT_THAT(splits->train.files[5], HasSubstr("train/dark/2.jpg"));
}

TEST(ImageFolderTest, BadLayoutsAreErrorsNamingWhatIsWrong) {
  EXPECT_THAT(ScanImageFolder(::testing::TempDir() + "/nowhere", 32).status().message(),
              HasSubstr("nowhere: not a directory"));
  const std::string empty_class = FreshDir("empty_class");
  fs::create_directories(empty_class + "/cats");
  EXPECT_THAT(ScanImageFolder(empty_class, 32).status().message(),
              HasSubstr("cats: no .jpg or .jpeg images"));
  const std::string root = MakeImageFolder("unknown_class", 1);
  fs::create_directories(root + "/val/zebra");
  EXPECT_THAT(ScanImageFolder(root + "/val", 32, {"bright", "dark"}).status().message(),
              HasSubstr("class \"zebra\" is not one of"));
}

TEST(ImageFolderTest, LoaderDecodesDeterministicallyWhateverTheThreadCount) {
  const std::string root = MakeImageFolder("loader", 4);
  absl::StatusOr<ImageDataset> data = ScanImageFolder(root + "/train", 24);
  ASSERT_TRUE(data.ok()) << data.status();
  ImageDataset one_thread = *data;
  one_thread.decode_threads = 1;
  ImageDataset three_threads = *data;
  three_threads.decode_threads = 3;
  const BatchLoader::Options options{.batch_size = 4, .seed = 5, .train = true};
  BatchLoader a(one_thread, options), b(three_threads, options);
  const Batch first = a.Get({0, 1});
  ASSERT_EQ(first.images.sizes(), (std::vector<int64_t>{4, 3, 24, 24}));
  EXPECT_TRUE(torch::equal(first.images, b.Get({0, 1}).images));
  EXPECT_TRUE(torch::equal(first.images, a.Get({0, 1}).images));
  EXPECT_FALSE(torch::equal(first.images, a.Get({1, 1}).images));  // new crops next epoch

  // Labels follow the images: "bright" (label 0) images have the larger blue channel.
  const BatchLoader eval(*data, {.batch_size = 8, .train = false});
  const Batch all = eval.Get({0, 0});
  const torch::Tensor blue = all.images.select(1, 2).mean({1, 2});
  for (int i = 0; i < 8; ++i) {
    EXPECT_EQ(all.labels[i].item<int64_t>() == 0, blue[i].item<float>() > 0) << i;
  }
}

TEST(ImageFolderTest, WithoutAugmentationTrainingImagesAreTheEvaluationCrop) {
  const std::string root = MakeImageFolder("no_augmentation", 1);
  absl::StatusOr<ImageDataset> data = ScanImageFolder(root + "/train", 24);
  ASSERT_TRUE(data.ok()) << data.status();
  ImageDataset one = *data;  // One image: every training batch holds it.
  one.files.resize(1);
  one.labels = one.labels.narrow(0, 0, 1);
  const torch::Tensor evaluated =
      BatchLoader(one, {.batch_size = 1, .train = false}).Get({0, 0}).images;
  int differ = 0;
  for (int epoch = 0; epoch < 4; ++epoch) {
    differ += !torch::equal(
        BatchLoader(one, {.batch_size = 1, .train = true}).Get({epoch, 0}).images, evaluated);
  }
  EXPECT_GT(differ, 0);  // Augmented by default.
  one.random_crop = one.random_flip = false;
  for (int epoch = 0; epoch < 4; ++epoch) {
    EXPECT_TRUE(torch::equal(
        BatchLoader(one, {.batch_size = 1, .train = true}).Get({epoch, 0}).images, evaluated));
  }
}

TEST(ImageFolderTest, AnUndecodableFileStopsTheLoaderWithItsName) {
  const std::string root = MakeImageFolder("corrupt", 2);
  std::ofstream(root + "/train/dark/1.jpg", std::ios::trunc) << "garbage";
  absl::StatusOr<ImageDataset> data = ScanImageFolder(root + "/train", 16);
  ASSERT_TRUE(data.ok());
  BatchLoader loader(*data, {.batch_size = 4, .train = false});
  try {
    loader.Next();
    FAIL() << "expected an error";
  } catch (const std::runtime_error& e) {
    EXPECT_THAT(e.what(), HasSubstr("train/dark/1.jpg"));
  }
}

}  // namespace
}  // namespace ofa::trainer
