#include "trainer/data/image_dataset.h"

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "trainer/data/idx_file.h"

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
  out.images = from.images.index_select(0, indices);
  out.labels = from.labels.index_select(0, indices);
  return out;
}

}  // namespace

absl::StatusOr<DatasetSplits> LoadDataset(const ofa::v1::DatasetSpec& spec,
                                          const std::string& data_root, uint64_t seed) {
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
    case ofa::v1::DATASET_KIND_IMAGE_FOLDER:
      return absl::UnimplementedError(
          "dataset.kind: image_folder data sets are not supported yet (issue #3 follow-up); "
          "use fashion_mnist or synthetic");
    default:
      return absl::InvalidArgumentError(absl::StrCat("dataset.kind: unsupported ", spec.kind()));
  }
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
