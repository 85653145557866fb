#ifndef OFA_TRAINER_NN_LINEAR_AS_CONV_H_
#define OFA_TRAINER_NN_LINEAR_AS_CONV_H_

#include <torch/torch.h>

namespace ofa::trainer {

// linear(x, weight, bias) for x [N, in], weight [out, in], bias [out] (or undefined), computed
// on CPU as a 1x1 convolution. LibTorch sends linear layers to BLAS and convolutions to oneDNN;
// Debian's LibTorch links the reference BLAS, which made the squeeze-and-excitation layers and
// the classifier of OFA-MobileNetV3 a third of a training step (docs/performance.md). On other
// devices this is plain linear.
torch::Tensor LinearAsConv1x1(const torch::Tensor& x, const torch::Tensor& weight,
                              const torch::Tensor& bias);

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_LINEAR_AS_CONV_H_
