// Throughput of the image-folder input pipeline (JPEG decode + random-resized crop + flip +
// normalisation), the part of an ImageNet-style step that runs on the loader threads.
//
//   bazel run //tests/bench:image_loader_bench -- [--images=256] [--width=500] [--height=375]
//       [--size=224] [--batch=64]
//
// Writes --images synthetic photos (smooth gradients plus noise, so JPEG sizes are realistic)
// of ImageNet's typical 500x375 to a temporary folder, then prints images/s of BatchLoader
// for 1, 2 and 4 decode threads, and of plain full-size decoding against DCT-scaled decoding
// (what the loader does) for a single image stream, side by side in one run.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "trainer/data/batch_loader.h"
#include "trainer/data/image_folder.h"
#include "trainer/data/jpeg_image.h"

ABSL_FLAG(int, images, 256, "Images written and read per measurement.");
ABSL_FLAG(int, width, 500, "Photo width (pixels).");
ABSL_FLAG(int, height, 375, "Photo height (pixels).");
ABSL_FLAG(int, size, 224, "Output side (the supernet's largest resolution).");
ABSL_FLAG(int, batch, 64, "Images per batch.");

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

std::string WritePhotos(int count, int width, int height) {
  const fs::path root = fs::temp_directory_path() / "ofa_image_loader_bench";
  fs::remove_all(root);
  std::mt19937 noise(1);
  for (int i = 0; i < count; ++i) {
    const fs::path dir = root / "train" / ("class" + std::to_string(i % 4));
    fs::create_directories(dir);
    RgbImage image{width, height, std::vector<uint8_t>(width * height * 3)};
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        for (int c = 0; c < 3; ++c) {
          const int v = (x * (c + 1) + y * (3 - c) + i * 17) % 256 + static_cast<int>(noise() % 24);
          image.pixels[(y * width + x) * 3 + c] = static_cast<uint8_t>(std::min(v, 255));
        }
      }
    }
    if (absl::Status s = EncodeJpegFile(image, (dir / (std::to_string(i) + ".jpg")).string(), 90);
        !s.ok()) {
      absl::FPrintF(stderr, "%s\n", s.ToString());
      std::exit(1);
    }
  }
  return root.string();
}

int Run() {
  const int count = absl::GetFlag(FLAGS_images), size = absl::GetFlag(FLAGS_size);
  const std::string root =
      WritePhotos(count, absl::GetFlag(FLAGS_width), absl::GetFlag(FLAGS_height));
  absl::StatusOr<ImageDataset> data = ScanImageFolder(root + "/train", size);
  if (!data.ok()) {
    absl::FPrintF(stderr, "%s\n", data.status().ToString());
    return 1;
  }
  absl::PrintF("%d JPEGs of %dx%d -> %dx%d, batch %d\n", count, absl::GetFlag(FLAGS_width),
               absl::GetFlag(FLAGS_height), size, size, absl::GetFlag(FLAGS_batch));

  absl::PrintF("%-44s %10s\n", "decode only, one stream", "images/s");
  for (const int min_side : {0, size}) {
    const Clock::time_point start = Clock::now();
    for (const std::string& file : data->files) {
      if (!DecodeJpegFile(file, min_side).ok()) return 1;
    }
    absl::PrintF("%-44s %10.1f\n",
                 min_side == 0 ? "full size" : "DCT-scaled (shorter side >= output)",
                 count / Seconds(start));
  }

  absl::PrintF("%-44s %10s\n", "BatchLoader (decode + crop + flip + norm)", "images/s");
  for (const int threads : {1, 2, 4}) {
    ImageDataset threaded = *data;
    threaded.decode_threads = threads;
    BatchLoader loader(threaded, {.batch_size = absl::GetFlag(FLAGS_batch), .train = true});
    const int64_t batches = loader.batches_per_epoch();
    const Clock::time_point start = Clock::now();
    for (int64_t b = 0; b < batches; ++b) loader.Get({0, b});
    absl::PrintF("%-44s %10.1f\n", absl::StrFormat("%d decode thread(s)", threads),
                 batches * absl::GetFlag(FLAGS_batch) / Seconds(start));
  }
  fs::remove_all(root);
  return 0;
}

}  // namespace
}  // namespace ofa::trainer

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return ofa::trainer::Run();
}
