#include "trainer/dist/communicator.h"

#include "absl/strings/str_cat.h"

namespace ofa::trainer {

absl::Status CheckCollectiveInput(const std::vector<torch::Tensor>& tensors, const char* op,
                                  bool broken, const torch::Device& device) {
  if (broken) {
    return absl::FailedPreconditionError(
        absl::StrCat(op, ": the communicator failed earlier; the rank must restart"));
  }
  for (size_t i = 0; i < tensors.size(); ++i) {
    const torch::Tensor& t = tensors[i];
    if (!t.defined() || t.device() != device || t.scalar_type() != torch::kFloat ||
        !t.is_contiguous()) {
      return absl::InvalidArgumentError(absl::StrCat(
          op, ": tensor ", i, " must be a defined, contiguous float32 tensor on ",
          device.str()));
    }
  }
  return absl::OkStatus();
}

}  // namespace ofa::trainer
