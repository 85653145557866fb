#include "trainer/nn/depthwise_weight_grad.h"

#include <ATen/Parallel.h>

#include <algorithm>

namespace ofa::trainer {
namespace {

struct Shape {
  int64_t h, w, c, ho, wo, k, stride;
};

// Adds images [first, last)'s terms to acc [k, k, C]. Built twice, for AVX2+FMA and for the
// baseline, and picked at load time: the inner loop is a multiply-add over C floats.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v3", "default")))
#endif
void AccumulateImages(const float* __restrict x, const float* __restrict g, float* __restrict acc,
                      int64_t first, int64_t last, const Shape& s) {
  const int64_t p = s.k / 2;
  for (int64_t n = first; n < last; ++n) {
    for (int64_t y = 0; y < s.ho; ++y) {
      for (int64_t i = 0; i < s.k; ++i) {
        const int64_t iy = y * s.stride + i - p;
        if (iy < 0 || iy >= s.h) continue;
        for (int64_t xo = 0; xo < s.wo; ++xo) {
          const float* gp = g + ((n * s.ho + y) * s.wo + xo) * s.c;
          for (int64_t j = 0; j < s.k; ++j) {
            const int64_t ix = xo * s.stride + j - p;
            if (ix < 0 || ix >= s.w) continue;
            const float* xp = x + ((n * s.h + iy) * s.w + ix) * s.c;
            float* ap = acc + (i * s.k + j) * s.c;
            for (int64_t c = 0; c < s.c; ++c) ap[c] += gp[c] * xp[c];
          }
        }
      }
    }
  }
}

}  // namespace

torch::Tensor ChannelsLastDepthwiseWeightGrad(const torch::Tensor& x, const torch::Tensor& grad_y,
                                              int64_t kernel, int64_t stride) {
  TORCH_CHECK(x.dim() == 4 && grad_y.dim() == 4 && x.scalar_type() == torch::kFloat &&
                  grad_y.scalar_type() == torch::kFloat && x.device().is_cpu(),
              "ChannelsLastDepthwiseWeightGrad: float CPU 4-d tensors expected");
  const torch::Tensor xc = x.contiguous(torch::MemoryFormat::ChannelsLast);
  const torch::Tensor gc = grad_y.contiguous(torch::MemoryFormat::ChannelsLast);
  const int64_t n = x.size(0);
  const Shape s{x.size(2), x.size(3), x.size(1), gc.size(2), gc.size(3), kernel, stride};
  const int64_t chunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n));
  // One partial sum per chunk of the batch, added up in chunk order.
  torch::Tensor partial = torch::zeros({chunks, kernel, kernel, s.c}, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* gp = gc.data_ptr<float>();
  float* pp = partial.data_ptr<float>();
  at::parallel_for(0, chunks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) {
      AccumulateImages(xp, gp, pp + t * kernel * kernel * s.c, t * n / chunks, (t + 1) * n / chunks,
                       s);
    }
  });
  return partial.sum(0).permute({2, 0, 1}).unsqueeze(1).contiguous();
}

}  // namespace ofa::trainer
