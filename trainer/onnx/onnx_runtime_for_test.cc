#include "trainer/onnx/onnx_runtime_for_test.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ofa::trainer {
namespace {

// The project's venv (deploy/local/setup.sh) holds the pinned onnxruntime: Bazel exposes it
// as @python_env//:python3; CTest runs from the repository root, where the venv is.
std::string ProjectPython() {
  if (const char* python = std::getenv("OFA_PYTHON")) return python;
  for (const char* candidate : {"external/python_env/python3", ".deps/venv/bin/python3"}) {
    if (std::filesystem::exists(candidate)) return candidate;
  }
  return "python3";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

absl::StatusOr<torch::Tensor> RunInOnnxRuntime(const std::string& model_path,
                                               const torch::Tensor& input,
                                               const std::string& work_dir) {
  constexpr char kRunner[] = "tests/onnx/run_onnx_model.py";
  const std::string python = ProjectPython();
  const std::filesystem::path dir(work_dir);
  const std::string in = (dir / "ort_input.f32").string();
  const std::string out = (dir / "ort_output.f32").string();
  // The runner's reply on stdout, apart from whatever the runtime logs on stderr.
  const std::string reply_path = (dir / "ort_runner.out").string();
  const std::string log = (dir / "ort_runner.log").string();
  const torch::Tensor x = input.to(torch::kFloat32).contiguous();
  {
    std::ofstream f(in, std::ios::binary | std::ios::trunc);
    f.write(static_cast<const char*>(x.data_ptr()), x.numel() * sizeof(float));
    if (!f) return absl::InternalError(absl::StrCat("cannot write ", in));
  }
  const std::vector<int64_t> dims(x.sizes().begin(), x.sizes().end());
  const std::string command = absl::StrCat("'", python, "' ", kRunner, " '", model_path, "' '",
                                           in, "' ", absl::StrJoin(dims, ","), " '", out, "' >'",
                                           reply_path, "' 2>'", log, "'");
  const int rc = std::system(command.c_str());
  const std::string printed = ReadFile(reply_path);
  if (rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(command, " exited with ", rc, ":\n", printed, ReadFile(log)));
  }
  const nlohmann::json reply =
      nlohmann::json::parse(printed.substr(0, printed.find('\n')), nullptr, false);
  if (reply.is_discarded() || !reply.contains("dims")) {
    return absl::InternalError(
        absl::StrCat("unexpected runner output: ", printed, "\nstderr: ", ReadFile(log)));
  }
  torch::Tensor y = torch::empty(reply["dims"].get<std::vector<int64_t>>(), torch::kFloat32);
  std::ifstream f(out, std::ios::binary);
  f.read(static_cast<char*>(y.data_ptr()), y.numel() * sizeof(float));
  if (f.gcount() != static_cast<std::streamsize>(y.numel() * sizeof(float))) {
    return absl::InternalError(
        absl::StrCat(out, ": fewer floats than dims ", reply["dims"].dump()));
  }
  return y;
}

}  // namespace ofa::trainer
