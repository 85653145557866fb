#include "trainer/data/image_folder.h"

#include <algorithm>
#include <filesystem>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

bool IsJpegName(const fs::path& path) {
  const std::string ext = absl::AsciiStrToLower(path.extension().string());
  return ext == ".jpg" || ext == ".jpeg";
}

}  // namespace

absl::StatusOr<ImageDataset> ScanImageFolder(const std::string& dir, int image_size,
                                             const std::vector<std::string>& classes) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return absl::NotFoundError(absl::StrCat(dir, ": not a directory (an image folder needs ",
                                            "train/CLASS/*.jpg and val/CLASS/*.jpg)"));
  }
  std::vector<std::string> found;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, ec)) {
    if (entry.is_directory()) found.push_back(entry.path().filename().string());
  }
  if (ec) return absl::InternalError(absl::StrCat(dir, ": cannot list: ", ec.message()));
  std::sort(found.begin(), found.end());
  if (found.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": no class sub-directories"));
  }
  const std::vector<std::string>& names = classes.empty() ? found : classes;
  for (const std::string& name : found) {
    if (std::find(names.begin(), names.end(), name) == names.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          dir, ": class \"", name, "\" is not one of the training split's ", names.size(),
          " classes"));
    }
  }

  ImageDataset data;
  std::vector<int64_t> labels;
  for (size_t label = 0; label < names.size(); ++label) {
    const fs::path class_dir = fs::path(dir) / names[label];
    if (!fs::is_directory(class_dir, ec)) continue;  // A validation split may miss a class.
    std::vector<std::string> files;
    for (const fs::directory_entry& entry : fs::directory_iterator(class_dir, ec)) {
      if (entry.is_regular_file() && IsJpegName(entry.path())) {
        files.push_back(entry.path().string());
      }
    }
    if (ec) return absl::InternalError(absl::StrCat(class_dir.string(), ": ", ec.message()));
    if (files.empty() && classes.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(class_dir.string(), ": no .jpg or .jpeg images in this class"));
    }
    std::sort(files.begin(), files.end());
    data.files.insert(data.files.end(), files.begin(), files.end());
    labels.insert(labels.end(), files.size(), static_cast<int64_t>(label));
  }
  if (data.files.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(dir, ": no .jpg or .jpeg images"));
  }
  data.labels = torch::tensor(labels, torch::kInt64);
  data.num_classes = static_cast<int>(names.size());
  data.class_names = names;
  data.image_size = image_size;
  // ImageNet statistics, the convention of pretrained and OFA models alike.
  data.mean = {0.485f, 0.456f, 0.406f};
  data.std = {0.229f, 0.224f, 0.225f};
  return data;
}

}  // namespace ofa::trainer
