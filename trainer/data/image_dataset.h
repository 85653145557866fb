#ifndef OFA_TRAINER_DATA_IMAGE_DATASET_H_
#define OFA_TRAINER_DATA_IMAGE_DATASET_H_

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "absl/status/statusor.h"
#include "ofa/v1/dataset.pb.h"

namespace ofa::trainer {

// A labelled image set, normalised per batch by the loader. Either in memory (`images`) or
// file-backed (`files`, JPEGs decoded by the loader at image_size x image_size).
struct ImageDataset {
  torch::Tensor images;  // uint8 [N, C, H, W]; undefined when file-backed
  torch::Tensor labels;  // int64 [N]
  int num_classes = 0;
  // Per-channel mean and standard deviation of pixel values scaled to [0, 1].
  std::vector<float> mean;
  std::vector<float> std;
  // File-backed sets only: one path per image, the side the loader produces, the class
  // names in label order, and how many threads decode a batch.
  std::vector<std::string> files;
  int image_size = 0;
  std::vector<std::string> class_names;
  int decode_threads = 2;
  // What a training loader does to each image (DatasetSpec.augmentation): a random crop
  // (padded for in-memory sets, random-resized for files) and a horizontal flip.
  bool random_crop = true;
  bool random_flip = true;

  int64_t size() const { return labels.size(0); }
  bool file_backed() const { return !files.empty(); }
  int64_t channels() const { return static_cast<int64_t>(mean.size()); }
};

// The splits of a job's data: train, a held-out validation part of the train set, and test.
struct DatasetSplits {
  ImageDataset train;
  ImageDataset validation;  // Empty when validation_fraction is 0.
  ImageDataset test;
};

// Where Debian's dataset-fashion-mnist puts the files.
inline constexpr char kDefaultFashionMnistDir[] = "/usr/share/datasets/fashion-mnist";

// Loads the data a DatasetSpec names. `data_root` is the service's data root; a spec's
// relative `root` is resolved under it (Fashion-MNIST without a root uses the Debian
// package's directory). The validation split is the last validation_fraction of a
// permutation seeded by `seed`, so every rank and every resume holds out the same images.
// Image folders (ROOT/train, ROOT/val) are file-backed at `image_size` pixels, the
// supernet's largest resolution; their "val" directory is the test split.
absl::StatusOr<DatasetSplits> LoadDataset(const ofa::v1::DatasetSpec& spec,
                                          const std::string& data_root, uint64_t seed,
                                          int image_size = 224);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DATA_IMAGE_DATASET_H_
