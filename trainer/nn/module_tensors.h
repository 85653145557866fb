#ifndef OFA_TRAINER_NN_MODULE_TENSORS_H_
#define OFA_TRAINER_NN_MODULE_TENSORS_H_

#include <torch/torch.h>

namespace ofa::trainer {

// Writes every parameter and buffer of `module` into `archive` under its qualified name.
void WriteModuleTensors(const torch::nn::Module& module, torch::serialize::OutputArchive& archive);

// Copies every parameter and buffer of `module` from `archive` (same names and shapes).
// Throws c10::Error if a tensor is missing or has another shape; callers turn that into a
// Status at their boundary.
void ReadModuleTensors(torch::nn::Module& module, torch::serialize::InputArchive& archive);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_MODULE_TENSORS_H_
