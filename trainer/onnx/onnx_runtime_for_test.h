#ifndef OFA_TRAINER_ONNX_ONNX_RUNTIME_FOR_TEST_H_
#define OFA_TRAINER_ONNX_ONNX_RUNTIME_FOR_TEST_H_

#include <torch/torch.h>

#include <string>

#include "absl/status/statusor.h"

namespace ofa::trainer {

// Runs the ONNX model at `model_path` in ONNX Runtime (CPU: the pinned PyPI
// onnxruntime through tests/onnx/run_onnx_model.py, relative to the working
// directory as under Bazel and CTest, run by $OFA_PYTHON or the project's venv)
// on the float32 `input`, exchanging tensors through
// files in `work_dir`. Returns its first output, or an error carrying the
// runtime's message (e.g. a rejected input shape).
absl::StatusOr<torch::Tensor> RunInOnnxRuntime(const std::string& model_path,
                                               const torch::Tensor& input,
                                               const std::string& work_dir);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_ONNX_ONNX_RUNTIME_FOR_TEST_H_
