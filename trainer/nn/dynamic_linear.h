#ifndef OFA_TRAINER_NN_DYNAMIC_LINEAR_H_
#define OFA_TRAINER_NN_DYNAMIC_LINEAR_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// A fully connected layer with elastic input features: an input with F features uses the
// first F columns of the weight.
class DynamicLinearImpl : public torch::nn::Module {
 public:
  DynamicLinearImpl(int64_t max_in_features, int64_t out_features);

  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [out, max_in]
  torch::Tensor bias;    // [out]
};
TORCH_MODULE(DynamicLinear);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_DYNAMIC_LINEAR_H_
