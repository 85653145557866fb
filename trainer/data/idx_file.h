#ifndef OFA_TRAINER_DATA_IDX_FILE_H_
#define OFA_TRAINER_DATA_IDX_FILE_H_

#include <string>

#include <torch/torch.h>

#include "absl/status/statusor.h"

namespace ofa::trainer {

// Reads an IDX file (the MNIST / Fashion-MNIST format), gzip-compressed or not, of unsigned
// bytes: images (magic 0x803, dims N x H x W) become a uint8 tensor [N, 1, H, W]; labels
// (magic 0x801, dim N) an int64 tensor [N]. Truncated or malformed files are
// INVALID_ARGUMENT naming the file and what is wrong; a missing file NOT_FOUND.
absl::StatusOr<torch::Tensor> ReadIdxImages(const std::string& path);
absl::StatusOr<torch::Tensor> ReadIdxLabels(const std::string& path);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DATA_IDX_FILE_H_
