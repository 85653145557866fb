#include "trainer/data/image_transforms.h"

#include <algorithm>
#include <cmath>

namespace ofa::trainer {

CropBox RandomResizedCropBox(int width, int height, SplitMix64& rng) {
  constexpr double kMinScale = 0.08, kMaxScale = 1.0;
  const double log_min_ratio = std::log(3.0 / 4.0), log_max_ratio = std::log(4.0 / 3.0);
  const double area = static_cast<double>(width) * height;
  for (int attempt = 0; attempt < 10; ++attempt) {
    const double target = area * (kMinScale + (kMaxScale - kMinScale) * rng.Uniform());
    const double ratio =
        std::exp(log_min_ratio + (log_max_ratio - log_min_ratio) * rng.Uniform());
    const int w = static_cast<int>(std::lround(std::sqrt(target * ratio)));
    const int h = static_cast<int>(std::lround(std::sqrt(target / ratio)));
    if (w > 0 && h > 0 && w <= width && h <= height) {
      const int x = static_cast<int>(rng.Below(width - w + 1));
      const int y = static_cast<int>(rng.Below(height - h + 1));
      return {x, y, w, h};
    }
  }
  // Fallback: the whole image, clamped to the ratio range, centred.
  const double in_ratio = static_cast<double>(width) / height;
  int w = width, h = height;
  if (in_ratio < 3.0 / 4.0) {
    h = static_cast<int>(std::lround(w / (3.0 / 4.0)));
  } else if (in_ratio > 4.0 / 3.0) {
    w = static_cast<int>(std::lround(h * (4.0 / 3.0)));
  }
  return {(width - w) / 2, (height - h) / 2, w, h};
}

CropBox CenterCropBox(int width, int height, double fraction) {
  const int side = std::max(1, static_cast<int>(std::lround(std::min(width, height) * fraction)));
  return {(width - side) / 2, (height - side) / 2, side, side};
}

void ResizeCropToPlanar(const RgbImage& image, const CropBox& box, int size, bool flip,
                        uint8_t* out) {
  const double scale_x = static_cast<double>(box.width) / size;
  const double scale_y = static_cast<double>(box.height) / size;
  const size_t plane = static_cast<size_t>(size) * size;
  const int stride = image.width * 3;
  for (int oy = 0; oy < size; ++oy) {
    // Source coordinate of the output pixel's centre, clamped to the box.
    const double sy = std::clamp((oy + 0.5) * scale_y - 0.5, 0.0, box.height - 1.0);
    const int y0 = static_cast<int>(sy);
    const int y1 = std::min(y0 + 1, box.height - 1);
    const double fy = sy - y0;
    const uint8_t* row0 = image.pixels.data() + static_cast<size_t>(box.y + y0) * stride;
    const uint8_t* row1 = image.pixels.data() + static_cast<size_t>(box.y + y1) * stride;
    for (int ox = 0; ox < size; ++ox) {
      const double sx = std::clamp((ox + 0.5) * scale_x - 0.5, 0.0, box.width - 1.0);
      const int x0 = static_cast<int>(sx);
      const int x1 = std::min(x0 + 1, box.width - 1);
      const double fx = sx - x0;
      const int c0 = (box.x + x0) * 3, c1 = (box.x + x1) * 3;
      const int column = flip ? size - 1 - ox : ox;
      for (int c = 0; c < 3; ++c) {
        const double top = row0[c0 + c] * (1 - fx) + row0[c1 + c] * fx;
        const double bottom = row1[c0 + c] * (1 - fx) + row1[c1 + c] * fx;
        const double value = top * (1 - fy) + bottom * fy;
        out[c * plane + static_cast<size_t>(oy) * size + column] =
            static_cast<uint8_t>(std::lround(std::clamp(value, 0.0, 255.0)));
      }
    }
  }
}

}  // namespace ofa::trainer
