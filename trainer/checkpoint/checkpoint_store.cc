#include "trainer/checkpoint/checkpoint_store.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/match.h"
#include "trainer/nn/module_tensors.h"

namespace ofa::trainer {
namespace {

namespace fs = std::filesystem;

constexpr char kFormat[] = "ofa-train.checkpoint.v1";
constexpr char kFinal[] = "final";
constexpr char kStepPrefix[] = "step-";

// Flushes a file or directory to stable storage.
absl::Status Fsync(const fs::path& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return absl::InternalError(absl::StrCat("open for fsync: ", path.string()));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync failed: ", path.string()));
  return absl::OkStatus();
}

// First line of a LibTorch error (the rest is a C++ stack trace).
std::string FirstLine(const std::exception& e) {
  std::string what = e.what();
  return what.substr(0, what.find('\n'));
}

}  // namespace

absl::StatusOr<std::string> Sha256OfFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx, EVP_sha256(), nullptr);
  std::vector<char> buffer(1 << 20);
  while (in) {
    in.read(buffer.data(), buffer.size());
    EVP_DigestUpdate(ctx, buffer.data(), in.gcount());
  }
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx, digest, &length);
  EVP_MD_CTX_free(ctx);
  std::string hex;
  for (unsigned int i = 0; i < length; ++i) absl::StrAppendFormat(&hex, "%02x", digest[i]);
  return hex;
}

CheckpointStore::CheckpointStore(std::string root) : root_(std::move(root)) {}

std::string CheckpointStore::StepName(int64_t step) {
  return absl::StrFormat("%s%010d", kStepPrefix, step);
}

absl::Status CheckpointStore::Save(const std::string& name, const CheckpointData& data) {
  std::error_code ec;
  fs::create_directories(root_, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", root_, ": ", ec.message()));
  const fs::path tmp = fs::path(root_) / absl::StrCat(".tmp-", name, "-", ::getpid());
  const fs::path target = fs::path(root_) / name;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", tmp.string()));

  std::vector<std::string> files = {"model.pt", "state.json"};
  try {
    torch::serialize::OutputArchive archive;
    WriteModuleTensors(*data.model, archive);
    archive.save_to((tmp / "model.pt").string());
    if (data.optimizer != nullptr) {
      torch::save(*data.optimizer, (tmp / "optimizer.pt").string());
      files.push_back("optimizer.pt");
    }
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("writing checkpoint ", name, ": ", FirstLine(e)));
  }
  std::ofstream(tmp / "state.json") << data.state.dump(2) << "\n";

  nlohmann::json manifest = {{"format", kFormat}, {"files", nlohmann::json::object()}};
  for (const std::string& file : files) {
    absl::StatusOr<std::string> sum = Sha256OfFile((tmp / file).string());
    if (!sum.ok()) return sum.status();
    manifest["files"][file] = *sum;
    if (absl::Status s = Fsync(tmp / file); !s.ok()) return s;
  }
  std::ofstream(tmp / "manifest.json") << manifest.dump(2) << "\n";
  if (absl::Status s = Fsync(tmp / "manifest.json"); !s.ok()) return s;
  if (absl::Status s = Fsync(tmp); !s.ok()) return s;

  // rename() cannot replace a non-empty directory: move the old one aside first.
  const fs::path old = fs::path(root_) / absl::StrCat(".old-", name, "-", ::getpid());
  const bool replacing = fs::exists(target);
  if (replacing) fs::rename(target, old, ec);
  if (!ec) fs::rename(tmp, target, ec);
  if (ec) return absl::InternalError(absl::StrCat("renaming checkpoint ", name, ": ",
                                                  ec.message()));
  if (replacing) fs::remove_all(old, ec);
  return Fsync(root_);
}

absl::Status CheckpointStore::Verify(const std::string& name) const {
  const fs::path dir = fs::path(root_) / name;
  std::ifstream in(dir / "manifest.json");
  if (!in) return absl::NotFoundError(absl::StrCat("no checkpoint ", dir.string()));
  nlohmann::json manifest = nlohmann::json::parse(in, nullptr, false);
  if (manifest.is_discarded() || manifest.value("format", "") != kFormat ||
      !manifest.contains("files") || !manifest["files"].is_object() ||
      !manifest["files"].contains("model.pt")) {
    return absl::DataLossError(absl::StrCat(dir.string(), ": bad manifest.json"));
  }
  for (const auto& [file, want] : manifest["files"].items()) {
    if (file.find('/') != std::string::npos || !want.is_string()) {
      return absl::DataLossError(absl::StrCat(dir.string(), ": bad manifest entry ", file));
    }
    absl::StatusOr<std::string> got = Sha256OfFile((dir / file).string());
    if (!got.ok() || *got != want.get<std::string>()) {
      return absl::DataLossError(absl::StrCat(dir.string(), "/", file,
                                              ": checksum does not match the manifest"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckpointStore::Load(const std::string& name, CheckpointData& data) const {
  if (absl::Status s = Verify(name); !s.ok()) return s;
  const fs::path dir = fs::path(root_) / name;
  try {
    torch::serialize::InputArchive archive;
    archive.load_from((dir / "model.pt").string());
    ReadModuleTensors(*data.model, archive);
    if (data.optimizer != nullptr && fs::exists(dir / "optimizer.pt")) {
      torch::load(*data.optimizer, (dir / "optimizer.pt").string());
    }
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(
        absl::StrCat(dir.string(), ": does not fit this model: ", FirstLine(e)));
  }
  std::ifstream in(dir / "state.json");
  data.state = nlohmann::json::parse(in, nullptr, false);
  if (data.state.is_discarded()) {
    return absl::DataLossError(absl::StrCat(dir.string(), "/state.json: not valid JSON"));
  }
  return absl::OkStatus();
}

std::vector<std::string> CheckpointStore::List() const {
  std::vector<std::string> steps;
  bool has_final = false;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root_, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory()) continue;
    if (name == kFinal) has_final = true;
    if (absl::StartsWith(name, kStepPrefix)) steps.push_back(name);
  }
  std::sort(steps.rbegin(), steps.rend());  // Zero-padded: lexical order is step order.
  if (has_final) steps.insert(steps.begin(), kFinal);
  return steps;
}

absl::StatusOr<std::string> CheckpointStore::LatestValid() const {
  for (const std::string& name : List()) {
    if (Verify(name).ok()) return name;
  }
  return absl::NotFoundError(absl::StrCat("no valid checkpoint under ", root_));
}

absl::Status CheckpointStore::Prune(int keep) {
  int kept = 0;
  for (const std::string& name : List()) {
    if (name == kFinal) continue;
    if (kept++ < keep) continue;
    std::error_code ec;
    fs::remove_all(fs::path(root_) / name, ec);
    if (ec) return absl::InternalError(absl::StrCat("pruning ", name, ": ", ec.message()));
  }
  return absl::OkStatus();
}

}  // namespace ofa::trainer
