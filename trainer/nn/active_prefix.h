#ifndef OFA_TRAINER_NN_ACTIVE_PREFIX_H_
#define OFA_TRAINER_NN_ACTIVE_PREFIX_H_

#include <cstdint>

#include <torch/torch.h>

namespace ofa::trainer {

// The first `size` entries of `t` along `dim`, the active part of an elastic parameter: a view,
// or `t` itself when that is all of it. Returning `t` keeps autograd from recording a slice,
// whose backward zero-fills a full-size gradient and copies into it; for the largest
// sub-network every parameter would pay that on every step.
inline torch::Tensor ActivePrefix(const torch::Tensor& t, int64_t dim, int64_t size) {
  return t.size(dim) == size ? t : t.narrow(dim, 0, size);
}

}  // namespace ofa::trainer

#endif  // OFA_TRAINER_NN_ACTIVE_PREFIX_H_
