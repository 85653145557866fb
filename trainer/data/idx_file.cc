#include "trainer/data/idx_file.h"

#include <zlib.h>

#include <cstdint>
#include <filesystem>
#include <vector>

#include "absl/strings/str_cat.h"

namespace ofa::trainer {
namespace {

constexpr int64_t kMaxElements = int64_t{1} << 32;  // 4 GiB of pixels is surely a bad file.

// Reads the whole file through zlib, which also passes plain files through unchanged.
absl::StatusOr<std::vector<uint8_t>> ReadMaybeGzipped(const std::string& path) {
  if (!std::filesystem::exists(path)) return absl::NotFoundError(absl::StrCat("no file ", path));
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  std::vector<uint8_t> data;
  uint8_t buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) {
    data.insert(data.end(), buffer, buffer + n);
    if (static_cast<int64_t>(data.size()) > kMaxElements) break;
  }
  int error = 0;
  const char* message = gzerror(file, &error);
  const bool failed = n < 0 || (error != Z_OK && error != Z_STREAM_END);
  const std::string error_text = failed ? message : "";
  gzclose(file);
  if (failed) return absl::InvalidArgumentError(absl::StrCat(path, ": ", error_text));
  return data;
}

uint32_t BigEndian32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

// Parses the header; returns the dimensions after checking the payload size.
absl::StatusOr<std::vector<int64_t>> ParseHeader(const std::vector<uint8_t>& data,
                                                 uint32_t want_magic, int want_dims,
                                                 const std::string& path) {
  const size_t header = 4 + 4 * static_cast<size_t>(want_dims);
  if (data.size() < header) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": too short for an IDX header"));
  }
  const uint32_t magic = BigEndian32(data.data());
  if (magic != want_magic) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": IDX magic 0x", absl::Hex(magic),
                                                   ", want 0x", absl::Hex(want_magic)));
  }
  std::vector<int64_t> dims;
  int64_t elements = 1;
  for (int i = 0; i < want_dims; ++i) {
    dims.push_back(BigEndian32(data.data() + 4 + 4 * i));
    elements *= dims.back();
    if (elements > kMaxElements) {
      return absl::InvalidArgumentError(absl::StrCat(path, ": implausible dimensions"));
    }
  }
  if (static_cast<int64_t>(data.size() - header) != elements) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": header says ", elements,
                                                   " bytes of data, file has ",
                                                   data.size() - header));
  }
  return dims;
}

}  // namespace

absl::StatusOr<torch::Tensor> ReadIdxImages(const std::string& path) {
  absl::StatusOr<std::vector<uint8_t>> data = ReadMaybeGzipped(path);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::vector<int64_t>> dims = ParseHeader(*data, 0x803, 3, path);
  if (!dims.ok()) return dims.status();
  const auto& d = *dims;
  return torch::from_blob(data->data() + 16, {d[0], 1, d[1], d[2]}, torch::kUInt8).clone();
}

absl::StatusOr<torch::Tensor> ReadIdxLabels(const std::string& path) {
  absl::StatusOr<std::vector<uint8_t>> data = ReadMaybeGzipped(path);
  if (!data.ok()) return data.status();
  absl::StatusOr<std::vector<int64_t>> dims = ParseHeader(*data, 0x801, 1, path);
  if (!dims.ok()) return dims.status();
  return torch::from_blob(data->data() + 8, {(*dims)[0]}, torch::kUInt8).to(torch::kInt64);
}

}  // namespace ofa::trainer
