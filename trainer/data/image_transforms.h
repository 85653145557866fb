#ifndef OFA_TRAINER_DATA_IMAGE_TRANSFORMS_H_
#define OFA_TRAINER_DATA_IMAGE_TRANSFORMS_H_

#include <cstdint>

#include "trainer/common/stream_seed.h"
#include "trainer/data/jpeg_image.h"

namespace ofa::trainer {

// A rectangle of an image, in pixels.
struct CropBox {
  int x = 0;
  int y = 0;
  int width = 0;
  int height = 0;
};

// The training crop of ImageNet-style pipelines (torchvision's RandomResizedCrop): a box of
// 8% to 100% of the area with aspect ratio in [3/4, 4/3] (log-uniform), up to 10 tries, else
// the centre box clamped to that ratio. Every draw comes from `rng`.
CropBox RandomResizedCropBox(int width, int height, SplitMix64& rng);

// The evaluation crop: the centred square whose side is `fraction` of the shorter side (the
// usual "resize to 256, centre-crop 224" is fraction 0.875).
CropBox CenterCropBox(int width, int height, double fraction = 0.875);

// Resizes `box` of `image` bilinearly (pixel centres aligned, as align_corners=false) to
// size x size, mirrored left-right when `flip`, and writes it planar (CHW) to `out`
// (3 * size * size floats) as value * scale[c] + bias[c], so normalisation costs no extra pass.
void ResizeCropToPlanar(const RgbImage& image, const CropBox& box, int size, bool flip,
                        const float scale[3], const float bias[3], float* out);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_DATA_IMAGE_TRANSFORMS_H_
