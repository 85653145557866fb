#include "trainer/nn/module_tensors.h"

namespace ofa::trainer {

void WriteModuleTensors(const torch::nn::Module& module,
                        torch::serialize::OutputArchive& archive) {
  for (const auto& item : module.named_parameters()) archive.write(item.key(), item.value());
  for (const auto& item : module.named_buffers()) archive.write(item.key(), item.value());
}

void ReadModuleTensors(torch::nn::Module& module, torch::serialize::InputArchive& archive) {
  torch::NoGradGuard no_grad;
  auto copy = [&](const std::string& name, torch::Tensor& target) {
    torch::Tensor value;
    archive.read(name, value);
    // copy_ would broadcast a smaller tensor silently; a shape change means another model.
    TORCH_CHECK(value.sizes() == target.sizes(), "tensor ", name, " has shape ", value.sizes(),
                ", the model expects ", target.sizes());
    target.copy_(value);
  };
  for (auto& item : module.named_parameters()) copy(item.key(), item.value());
  for (auto& item : module.named_buffers()) copy(item.key(), item.value());
}

}  // namespace ofa::trainer
