#include "trainer/data/image_transforms.h"

#include <algorithm>
#include <cmath>
#include <tuple>
#include <vector>

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
                        const float scale[3], const float bias[3], float* out) {
  // Source taps and weights of each output column, computed once per image, not per pixel.
  struct Tap {
    int offset0, offset1;  // byte offsets of the two source pixels within a row
    float weight1;         // weight of the second; the first gets 1 - weight1
  };
  auto source = [](int o, double scale, int extent) {
    // Source coordinate of the output pixel's centre, clamped to the box.
    const double s = std::clamp((o + 0.5) * scale - 0.5, 0.0, extent - 1.0);
    const int i0 = static_cast<int>(s);
    return std::tuple<int, int, float>(i0, std::min(i0 + 1, extent - 1),
                                       static_cast<float>(s - i0));
  };
  std::vector<Tap> columns(size);
  for (int ox = 0; ox < size; ++ox) {
    const auto [x0, x1, fx] = source(ox, static_cast<double>(box.width) / size, box.width);
    columns[flip ? size - 1 - ox : ox] = {(box.x + x0) * 3, (box.x + x1) * 3, fx};
  }
  const size_t plane = static_cast<size_t>(size) * size;
  const size_t stride = static_cast<size_t>(image.width) * 3;
  for (int oy = 0; oy < size; ++oy) {
    const auto [y0, y1, fy] = source(oy, static_cast<double>(box.height) / size, box.height);
    const uint8_t* row0 = image.pixels.data() + (box.y + y0) * stride;
    const uint8_t* row1 = image.pixels.data() + (box.y + y1) * stride;
    float* out_row = out + static_cast<size_t>(oy) * size;
    for (int ox = 0; ox < size; ++ox) {
      const Tap& t = columns[ox];
      for (int c = 0; c < 3; ++c) {
        const float top = row0[t.offset0 + c] + (row0[t.offset1 + c] - row0[t.offset0 + c]) * t.weight1;
        const float bottom =
            row1[t.offset0 + c] + (row1[t.offset1 + c] - row1[t.offset0 + c]) * t.weight1;
        out_row[c * plane + ox] = (top + (bottom - top) * fy) * scale[c] + bias[c];
      }
    }
  }
}

}  // namespace ofa::trainer
