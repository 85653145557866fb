#ifndef OFA_TRAINER_DATA_JPEG_IMAGE_H_
#define OFA_TRAINER_DATA_JPEG_IMAGE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace ofa::trainer {

// An 8-bit RGB image, rows top to bottom, pixels interleaved (HWC).
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// Decodes the JPEG file at `path` to RGB (grayscale is expanded; CMYK is rejected). When
// `min_side` > 0 the decoder's DCT scaling (1/2, 1/4, 1/8) is used as far as it keeps the
// shorter side at least `min_side` pixels, which makes decoding large photos for small
// training resolutions several times cheaper. A missing, truncated or corrupt file is an
// error that names the file (libjpeg's own message included), never a crash.
absl::StatusOr<RgbImage> DecodeJpegFile(const std::string& path, int min_side = 0);
// The same into `image`, reusing its pixel buffer (no allocation per image in the loader).
absl::Status DecodeJpegFileInto(const std::string& path, int min_side, RgbImage& image);

// Encodes `image` as a baseline JPEG at `quality` (1-100) into `path`; for tests and tools.
absl::Status EncodeJpegFile(const RgbImage& image, const std::string& path, int quality = 95);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DATA_JPEG_IMAGE_H_
