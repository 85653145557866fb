#ifndef OFA_TRAINER_ONNX_ONNX_EXPORT_H_
#define OFA_TRAINER_ONNX_ONNX_EXPORT_H_

#include <cstdint>
#include <map>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "onnx/onnx_pb.h"
#include "trainer/nn/standalone_subnet.h"

namespace ofa::trainer {

// The ONNX operator set the exports use: the first with HardSwish (14) that
// every runtime we target reads (ONNX Runtime, TensorRT 8.6+, OpenVINO 2023+).
// IR version 8 matches it.
inline constexpr int kOnnxOpset = 17;
inline constexpr int kOnnxIrVersion = 8;
// Input and output names of every exported graph.
inline constexpr char kOnnxInputName[] = "input";
inline constexpr char kOnnxOutputName[] = "logits";

struct OnnxExportOptions {
  // Fixed batch size, or 0 for a dynamic batch dimension named "batch".
  int64_t batch_size = 0;
  // Added to the model's metadata_props (e.g. job_id, target, measured_top1),
  // beside what the exporter records itself: architecture, macs, flops, params,
  // resolution and, when the layout has them, input_mean and input_std.
  std::map<std::string, std::string> metadata;
};

// The eval-mode graph of `subnet` as an ONNX model: every batch norm folded
// into the convolution before it, ReLU / HardSwish / HardSigmoid activations,
// squeeze-and-excitation as 1x1 convolutions on the pooled features, global
// average pooling and a Gemm classifier. Input "input" [N, C, R, R] float32
// normalised as the layout's metadata says; output "logits" [N, num_classes].
// Its outputs equal subnet->forward() in eval mode up to float rounding.
// INVALID_ARGUMENT on a negative batch size or a metadata key the exporter
// owns.
absl::StatusOr<onnx::ModelProto> BuildOnnxModel(StandaloneSubnet& subnet,
                                                const OnnxExportOptions& options);

// Runs the ONNX checker and strict shape inference (which must reproduce the
// declared output shape). INVALID_ARGUMENT with the checker's message if the
// model is not valid ONNX.
absl::Status CheckOnnxModel(const onnx::ModelProto& model);

// Builds, checks and writes the model to `path`, through a temporary file and a
// rename so a crash never leaves a truncated model under the final name.
absl::Status WriteOnnxModel(StandaloneSubnet& subnet, const OnnxExportOptions& options,
                            const std::string& path);

// Reads and checks a model written by WriteOnnxModel (or anyone).
absl::StatusOr<onnx::ModelProto> ReadOnnxModel(const std::string& path);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_ONNX_ONNX_EXPORT_H_
