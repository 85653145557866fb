#include "trainer/data/image_dataset.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "trainer/data/idx_file.h"
#include "trainer/data/image_folder.h"

namespace ofa::trainer {
namespace {

absl::StatusOr<ImageDataset> LoadFashionMnistSplit(const std::string& dir,
                                                   const std::string& prefix) {
  absl::StatusOr<torch::Tensor> images =
      ReadIdxImages(absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte.gz"));
  if (!images.ok()) return images.status();
  absl::StatusOr<torch::Tensor> labels =
      ReadIdxLabels(absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte.gz"));
  if (!labels.ok()) return labels.status();
  if (images->size(0) != labels->size(0)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": ", images->size(0), " ", prefix,
                                                   " images but ", labels->size(0),
                                                   " labels"));
  }
  if (labels->numel() > 0 && (labels->min().item<int64_t>() < 0 ||
                              labels->max().item<int64_t>() >= 10)) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": ", prefix,
                                                   " labels outside 0..9"));
  }
  // Fashion-MNIST training-set statistics.
  return ImageDataset{*images, *labels, 10, {0.2860f}, {0.3530f}};
}

ImageDataset Synthetic(const ofa::v1::SyntheticDataset& s, int64_t count, uint64_t seed) {
  torch::Generator generator = at::detail::createCPUGenerator(seed);
  ImageDataset data;
  data.images = torch::randint(0, 256, {count, s.channels(), s.image_size(), s.image_size()},
                               generator, torch::kUInt8);
  data.labels = torch::randint(0, s.num_classes(), {count}, generator, torch::kInt64);
  data.num_classes = s.num_classes();
  data.mean.assign(s.channels(), 0.5f);
  data.std.assign(s.channels(), 0.29f);
  return data;
}

ImageDataset Select(const ImageDataset& from, const torch::Tensor& indices) {
  ImageDataset out = from;
  if (from.file_backed()) {
    out.files.clear();
    const auto index = indices.accessor<int64_t, 1>();
    for (int64_t i = 0; i < index.size(0); ++i) out.files.push_back(from.files[index[i]]);
  } else {
    out.images = from.images.index_select(0, indices);
  }
  out.labels = from.labels.index_select(0, indices);
  return out;
}

}  // namespace

absl::StatusOr<DatasetSplits> LoadDataset(const ofa::v1::DatasetSpec& spec,
                                          const std::string& data_root, uint64_t seed,
                                          int image_size) {
  DatasetSplits splits;
  switch (spec.kind()) {
    case ofa::v1::DATASET_KIND_FASHION_MNIST: {
      const std::string dir = spec.root().empty() ? std::string(kDefaultFashionMnistDir)
                                                  : absl::StrCat(data_root, "/", spec.root());
      absl::StatusOr<ImageDataset> train = LoadFashionMnistSplit(dir, "train");
      if (!train.ok()) return train.status();
      absl::StatusOr<ImageDataset> test = LoadFashionMnistSplit(dir, "t10k");
      if (!test.ok()) return test.status();
      splits.train = std::move(*train);
      splits.test = std::move(*test);
      break;
    }
    case ofa::v1::DATASET_KIND_SYNTHETIC:
      splits.train = Synthetic(spec.synthetic(), spec.synthetic().train_images(), seed);
      splits.test = Synthetic(spec.synthetic(), spec.synthetic().test_images(), seed + 1);
      break;
    case ofa::v1::DATASET_KIND_IMAGE_FOLDER: {
      if (spec.root().empty()) {
        return absl::InvalidArgumentError("dataset.root: an image folder needs its directory");
      }
      const std::string dir = absl::StrCat(data_root, "/", spec.root());
      absl::StatusOr<ImageDataset> train = ScanImageFolder(dir + "/train", image_size);
      if (!train.ok()) return train.status();
      absl::StatusOr<ImageDataset> test =
          ScanImageFolder(dir + "/val", image_size, train->class_names);
      if (!test.ok()) return test.status();
      splits.train = std::move(*train);
      splits.test = std::move(*test);
      if (spec.loader_threads() > 0) {
        splits.train.decode_threads = splits.test.decode_threads = spec.loader_threads();
      }
      break;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat("dataset.kind: unsupported ", spec.kind()));
  }
  const ofa::v1::Augmentation augmentation = spec.augmentation();
  splits.train.random_crop = augmentation != ofa::v1::AUGMENTATION_NONE;
  splits.train.random_flip = augmentation == ofa::v1::AUGMENTATION_UNSPECIFIED ||
                             augmentation == ofa::v1::AUGMENTATION_CROP_FLIP;
  const int64_t held_out = static_cast<int64_t>(splits.train.size() * spec.validation_fraction());
  if (held_out > 0) {
    torch::Generator generator = at::detail::createCPUGenerator(seed ^ 0x5eed0f0a11ULL);
    torch::Tensor order = torch::randperm(splits.train.size(), generator, torch::kInt64);
    const int64_t kept = splits.train.size() - held_out;
    splits.validation = Select(splits.train, std::get<0>(order.narrow(0, kept, held_out).sort()));
    splits.train = Select(splits.train, std::get<0>(order.narrow(0, 0, kept).sort()));
  }
  return splits;
}

}  // namespace ofa::trainer
