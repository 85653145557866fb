#include "trainer/data/jpeg_image.h"

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <memory>

// jpeglib.h needs FILE and size_t declared first.
#include <jpeglib.h>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ofa::trainer {
namespace {

// libjpeg reports fatal errors through error_exit, which must not return: jump back to the
// caller's setjmp point with the message kept.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

void ExitWithError(j_common_ptr info) {
  auto* errors = reinterpret_cast<ErrorManager*>(info->err);
  (*info->err->format_message)(info, errors->message);
  std::longjmp(errors->jump, 1);
}

// Warnings (e.g. "premature end of data segment") leave grey blocks in the image: treat them
// as corruption rather than train on damaged pixels.
void FailOnWarning(j_common_ptr info, int level) {
  if (level < 0) ExitWithError(info);
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};

}  // namespace

absl::StatusOr<RgbImage> DecodeJpegFile(const std::string& path, int min_side) {
  RgbImage image;
  if (absl::Status s = DecodeJpegFileInto(path, min_side, image); !s.ok()) return s;
  return image;
}

absl::Status DecodeJpegFileInto(const std::string& path, int min_side, RgbImage& image) {
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "rb"));
  if (file == nullptr) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));

  jpeg_decompress_struct info;
  ErrorManager errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = ExitWithError;
  errors.base.emit_message = FailOnWarning;
  if (setjmp(errors.jump)) {
    jpeg_destroy_decompress(&info);
    return absl::DataLossError(absl::StrCat(path, ": not a valid JPEG: ", errors.message));
  }
  jpeg_create_decompress(&info);
  jpeg_stdio_src(&info, file.get());
  jpeg_read_header(&info, TRUE);
  if (info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK) {
    jpeg_destroy_decompress(&info);
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": CMYK JPEGs are not supported; convert the image to RGB"));
  }
  info.out_color_space = JCS_RGB;
  const int shorter = static_cast<int>(std::min(info.image_width, info.image_height));
  info.scale_num = 1;
  info.scale_denom = 1;
  while (min_side > 0 && info.scale_denom < 8 &&
         shorter / static_cast<int>(info.scale_denom * 2) >= min_side) {
    info.scale_denom *= 2;
  }
  jpeg_start_decompress(&info);
  image.width = static_cast<int>(info.output_width);
  image.height = static_cast<int>(info.output_height);
  image.pixels.resize(static_cast<size_t>(image.width) * image.height * 3);
  while (info.output_scanline < info.output_height) {
    JSAMPROW row = image.pixels.data() + static_cast<size_t>(info.output_scanline) * image.width * 3;
    jpeg_read_scanlines(&info, &row, 1);
  }
  jpeg_finish_decompress(&info);
  jpeg_destroy_decompress(&info);
  return absl::OkStatus();
}

absl::Status EncodeJpegFile(const RgbImage& image, const std::string& path, int quality) {
  if (image.width <= 0 || image.height <= 0 ||
      image.pixels.size() != static_cast<size_t>(image.width) * image.height * 3) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": image has inconsistent size"));
  }
  std::unique_ptr<std::FILE, FileCloser> file(std::fopen(path.c_str(), "wb"));
  if (file == nullptr) return absl::InternalError(absl::StrCat(path, ": cannot create"));
  jpeg_compress_struct info;
  ErrorManager errors;
  info.err = jpeg_std_error(&errors.base);
  errors.base.error_exit = ExitWithError;
  if (setjmp(errors.jump)) {
    jpeg_destroy_compress(&info);
    return absl::InternalError(absl::StrCat(path, ": JPEG encoding failed: ", errors.message));
  }
  jpeg_create_compress(&info);
  jpeg_stdio_dest(&info, file.get());
  info.image_width = image.width;
  info.image_height = image.height;
  info.input_components = 3;
  info.in_color_space = JCS_RGB;
  jpeg_set_defaults(&info);
  jpeg_set_quality(&info, quality, TRUE);
  jpeg_start_compress(&info, TRUE);
  while (info.next_scanline < info.image_height) {
    JSAMPROW row = const_cast<uint8_t*>(image.pixels.data()) +
                   static_cast<size_t>(info.next_scanline) * image.width * 3;
    jpeg_write_scanlines(&info, &row, 1);
  }
  jpeg_finish_compress(&info);
  jpeg_destroy_compress(&info);
  if (std::fflush(file.get()) != 0) {
    return absl::InternalError(absl::StrCat(path, ": write failed"));
  }
  return absl::OkStatus();
}

}  // namespace ofa::trainer
