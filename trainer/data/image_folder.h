#ifndef OFA_TRAINER_DATA_IMAGE_FOLDER_H_
#define OFA_TRAINER_DATA_IMAGE_FOLDER_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "trainer/data/image_dataset.h"

namespace ofa::trainer {

// Lists an ImageNet-style split directory, DIR/CLASS/*.{jpg,jpeg} (any case): one class per
// sub-directory, labels in sorted class-name order, files sorted within a class, so every
// rank and every run numbers images the same way. Nothing is decoded here; the loader decodes
// on demand (see BatchLoader), so the set may be far larger than memory.
//
// `classes`: empty to take the classes found (the training split), or the training split's
// classes, which a validation split must match. `image_size`: the side the loader produces.
// Errors name the directory: missing, no classes, a class without images, an unknown class.
absl::StatusOr<ImageDataset> ScanImageFolder(const std::string& dir, int image_size,
                                             const std::vector<std::string>& classes = {});

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DATA_IMAGE_FOLDER_H_
