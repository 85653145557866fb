#include "trainer/dist/file_store.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ofa::trainer {

namespace fs = std::filesystem;

std::string RendezvousScope(const std::string& job, const std::string& phase, int64_t attempt) {
  return absl::StrCat("job/", job, "/phase/", phase, "/attempt/", attempt, "/");
}

FileStore::FileStore(std::string dir) : dir_(std::move(dir)) {}

std::string FileStore::PathOf(const std::string& key) const {
  std::string name;
  for (unsigned char c : key) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '_' || c == '.') {
      name.push_back(static_cast<char>(c));
    } else {
      absl::StrAppendFormat(&name, "%%%02x", c);
    }
  }
  return (fs::path(dir_) / name).string();
}

absl::Status FileStore::Set(const std::string& key, const std::string& value) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return absl::InternalError(absl::StrCat("store ", dir_, ": ", ec.message()));
  const std::string path = PathOf(key);
  // Unique per writer, so two ranks setting the same key never share a temporary file.
  const std::string tmp = absl::StrCat(path, ".tmp.", getpid(), ".",
                                       std::hash<std::thread::id>()(std::this_thread::get_id()));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << value;
    out.flush();
    if (!out) return absl::InternalError(absl::StrCat("store ", dir_, ": cannot write ", tmp));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("store ", dir_, ": cannot rename ", tmp));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> FileStore::Get(const std::string& key, absl::Duration timeout) {
  const std::string path = PathOf(key);
  const absl::Time deadline = absl::Now() + timeout;
  absl::Duration pause = absl::Milliseconds(1);
  while (true) {
    std::ifstream in(path, std::ios::binary);
    if (in) {
      return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    }
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "store ", dir_, ": key \"", key, "\" not set within ", absl::FormatDuration(timeout),
          " (did every rank start?)"));
    }
    absl::SleepFor(pause);
    pause = std::min(pause * 2, absl::Milliseconds(50));
  }
}

}  // namespace ofa::trainer
