#include "trainer/nn/batch_norm_activation.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace ofa::trainer {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Sums run over blocks of this many rows (pixels), each into its own partial sum; the partial
// sums are added in block order, whatever thread computed them.
constexpr int64_t kRowsPerBlock = 256;

// Each kernel is built for AVX-512, AVX2+FMA and the baseline, picked at load time: the inner
// loops run over the C contiguous channels of one pixel.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define OFA_VECTOR_CLONES \
  __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define OFA_VECTOR_CLONES
#endif
#define OFA_INLINE inline __attribute__((always_inline))

template <Activation A>
OFA_INLINE float Activate(float z) {
  if constexpr (A == Activation::kRelu) return std::max(z, 0.0f);
  if constexpr (A == Activation::kHardSwish) {
    return z * std::min(std::max(z + 3.0f, 0.0f), 6.0f) / 6.0f;
  }
  return z;
}

// d activation(z) / dz times g, as LibTorch's threshold_backward and hardswish_backward.
template <Activation A>
OFA_INLINE float ActivationGrad(float z, float g) {
  if constexpr (A == Activation::kRelu) return z > 0.0f ? g : 0.0f;
  if constexpr (A == Activation::kHardSwish) {
    return z < -3.0f ? 0.0f : (z <= 3.0f ? g * (z / 3.0f + 0.5f) : g);
  }
  return g;
}

// The rows [first, last) of a rows x C channels-last tensor, and per-channel vectors.
struct Rows {
  int64_t first, last, channels;
};

OFA_VECTOR_CLONES
void SumRows(const float* __restrict x, Rows r, float* __restrict sum) {
  for (int64_t i = r.first; i < r.last; ++i) {
    const float* xi = x + i * r.channels;
    for (int64_t c = 0; c < r.channels; ++c) sum[c] += xi[c];
  }
}

OFA_VECTOR_CLONES
void SumSquaredDeviations(const float* __restrict x, Rows r, const float* __restrict mean,
                          float* __restrict sum) {
  for (int64_t i = r.first; i < r.last; ++i) {
    const float* xi = x + i * r.channels;
    for (int64_t c = 0; c < r.channels; ++c) {
      const float d = xi[c] - mean[c];
      sum[c] += d * d;
    }
  }
}

// y = activation((x - mean) * scale + bias).
template <Activation A>
OFA_INLINE void NormaliseRowsAs(const float* __restrict x, float* __restrict y, Rows r,
                                const float* __restrict mean, const float* __restrict scale,
                                const float* __restrict bias) {
  for (int64_t i = r.first; i < r.last; ++i) {
    const float* xi = x + i * r.channels;
    float* yi = y + i * r.channels;
    for (int64_t c = 0; c < r.channels; ++c) {
      yi[c] = Activate<A>((xi[c] - mean[c]) * scale[c] + bias[c]);
    }
  }
}

OFA_VECTOR_CLONES
void NormaliseRows(Activation a, const float* __restrict x, float* __restrict y, Rows r,
                   const float* __restrict mean, const float* __restrict scale,
                   const float* __restrict bias) {
  switch (a) {
    case Activation::kNone:
      return NormaliseRowsAs<Activation::kNone>(x, y, r, mean, scale, bias);
    case Activation::kRelu:
      return NormaliseRowsAs<Activation::kRelu>(x, y, r, mean, scale, bias);
    case Activation::kHardSwish:
      return NormaliseRowsAs<Activation::kHardSwish>(x, y, r, mean, scale, bias);
  }
}

// With gz the gradient before the activation: sum_gz += gz, sum_gz_xc += gz * (x - mean).
template <Activation A>
OFA_INLINE void SumGradientsAs(const float* __restrict x, const float* __restrict gy, Rows r,
                               const float* __restrict mean, const float* __restrict scale,
                               const float* __restrict bias, float* __restrict sum_gz,
                               float* __restrict sum_gz_xc) {
  for (int64_t i = r.first; i < r.last; ++i) {
    const float* xi = x + i * r.channels;
    const float* gi = gy + i * r.channels;
    for (int64_t c = 0; c < r.channels; ++c) {
      const float xc = xi[c] - mean[c];
      const float gz = ActivationGrad<A>(xc * scale[c] + bias[c], gi[c]);
      sum_gz[c] += gz;
      sum_gz_xc[c] += gz * xc;
    }
  }
}

OFA_VECTOR_CLONES
void SumGradients(Activation a, const float* __restrict x, const float* __restrict gy, Rows r,
                  const float* __restrict mean, const float* __restrict scale,
                  const float* __restrict bias, float* __restrict sum_gz,
                  float* __restrict sum_gz_xc) {
  switch (a) {
    case Activation::kNone:
      return SumGradientsAs<Activation::kNone>(x, gy, r, mean, scale, bias, sum_gz, sum_gz_xc);
    case Activation::kRelu:
      return SumGradientsAs<Activation::kRelu>(x, gy, r, mean, scale, bias, sum_gz, sum_gz_xc);
    case Activation::kHardSwish:
      return SumGradientsAs<Activation::kHardSwish>(x, gy, r, mean, scale, bias, sum_gz, sum_gz_xc);
  }
}

// dx = gz * k_gz + (x - mean) * k_xc + k_0 (the batch norm backward with batch statistics).
template <Activation A>
OFA_INLINE void InputGradientAs(const float* __restrict x, const float* __restrict gy,
                                float* __restrict dx, Rows r, const float* __restrict mean,
                                const float* __restrict scale, const float* __restrict bias,
                                const float* __restrict k_gz, const float* __restrict k_xc,
                                const float* __restrict k_0) {
  for (int64_t i = r.first; i < r.last; ++i) {
    const float* xi = x + i * r.channels;
    const float* gi = gy + i * r.channels;
    float* di = dx + i * r.channels;
    for (int64_t c = 0; c < r.channels; ++c) {
      const float xc = xi[c] - mean[c];
      const float gz = ActivationGrad<A>(xc * scale[c] + bias[c], gi[c]);
      di[c] = gz * k_gz[c] + xc * k_xc[c] + k_0[c];
    }
  }
}

OFA_VECTOR_CLONES
void InputGradient(Activation a, const float* __restrict x, const float* __restrict gy,
                   float* __restrict dx, Rows r, const float* __restrict mean,
                   const float* __restrict scale, const float* __restrict bias,
                   const float* __restrict k_gz, const float* __restrict k_xc,
                   const float* __restrict k_0) {
  switch (a) {
    case Activation::kNone:
      return InputGradientAs<Activation::kNone>(x, gy, dx, r, mean, scale, bias, k_gz, k_xc, k_0);
    case Activation::kRelu:
      return InputGradientAs<Activation::kRelu>(x, gy, dx, r, mean, scale, bias, k_gz, k_xc, k_0);
    case Activation::kHardSwish:
      return InputGradientAs<Activation::kHardSwish>(x, gy, dx, r, mean, scale, bias, k_gz, k_xc,
                                                     k_0);
  }
}

int64_t RowCount(const torch::Tensor& x) { return x.size(0) * x.size(2) * x.size(3); }

int64_t BlockCount(int64_t rows) { return (rows + kRowsPerBlock - 1) / kRowsPerBlock; }

Rows BlockRows(int64_t block, int64_t rows, int64_t channels) {
  return {block * kRowsPerBlock, std::min(rows, (block + 1) * kRowsPerBlock), channels};
}

// Runs `per_block(block, partials...)` over all row blocks in parallel, each block with its own
// zeroed [C] partial sums, and returns their totals over blocks, added in block order.
template <int kSums, class PerBlock>
std::vector<std::vector<double>> SumOverBlocks(int64_t rows, int64_t channels,
                                               const PerBlock& per_block) {
  const int64_t blocks = BlockCount(rows);
  std::vector<float> partial(static_cast<size_t>(blocks * kSums * channels), 0.0f);
  at::parallel_for(0, blocks, 1, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) per_block(b, partial.data() + b * kSums * channels);
  });
  std::vector<std::vector<double>> total(kSums, std::vector<double>(channels, 0.0));
  for (int64_t b = 0; b < blocks; ++b) {
    for (int s = 0; s < kSums; ++s) {
      const float* p = partial.data() + (b * kSums + s) * channels;
      for (int64_t c = 0; c < channels; ++c) total[s][c] += p[c];
    }
  }
  return total;
}

torch::Tensor FloatTensor(const std::vector<double>& values) {
  torch::Tensor t = torch::empty({static_cast<int64_t>(values.size())}, torch::kFloat);
  float* p = t.data_ptr<float>();
  for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<float>(values[i]);
  return t;
}

BatchStatistics ComputeBatchStatistics(const torch::Tensor& x) {
  const int64_t rows = RowCount(x), channels = x.size(1);
  const float* xp = x.data_ptr<float>();
  const std::vector<double> sum = SumOverBlocks<1>(rows, channels, [&](int64_t b, float* p) {
    SumRows(xp, BlockRows(b, rows, channels), p);
  })[0];
  std::vector<double> mean(sum);
  for (double& m : mean) m /= static_cast<double>(rows);
  BatchStatistics statistics;
  statistics.mean = FloatTensor(mean);
  statistics.count = rows;
  const float* mp = statistics.mean.data_ptr<float>();
  std::vector<double> variance = SumOverBlocks<1>(rows, channels, [&](int64_t b, float* p) {
    SumSquaredDeviations(xp, BlockRows(b, rows, channels), mp, p);
  })[0];
  for (double& v : variance) v /= static_cast<double>(rows);
  statistics.biased_variance = FloatTensor(variance);
  return statistics;
}

class BatchNormActivationFunction : public torch::autograd::Function<BatchNormActivationFunction> {
 public:
  // x: channels-last contiguous; mean and inverse_std: the batch's, [C], no gradient.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& mean, const torch::Tensor& inverse_std,
                               int64_t activation) {
    const torch::Tensor scale = (weight * inverse_std).contiguous();
    const torch::Tensor b = bias.contiguous();
    torch::Tensor y =
        torch::empty(x.sizes(), x.options().memory_format(torch::MemoryFormat::ChannelsLast));
    const int64_t rows = RowCount(x), channels = x.size(1);
    const float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    const auto a = static_cast<Activation>(activation);
    at::parallel_for(0, BlockCount(rows), 1, [&](int64_t begin, int64_t end) {
      for (int64_t blk = begin; blk < end; ++blk) {
        NormaliseRows(a, xp, yp, BlockRows(blk, rows, channels), mean.data_ptr<float>(),
                      scale.data_ptr<float>(), b.data_ptr<float>());
      }
    });
    ctx->save_for_backward({x, weight, bias, mean, inverse_std});
    ctx->saved_data["activation"] = activation;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor weight = saved[1].contiguous();
    const torch::Tensor bias = saved[2].contiguous();
    const torch::Tensor& mean = saved[3];
    const torch::Tensor& inverse_std = saved[4];
    const auto a = static_cast<Activation>(ctx->saved_data["activation"].toInt());
    const torch::Tensor gy = grads[0].contiguous(torch::MemoryFormat::ChannelsLast);
    const torch::Tensor scale = (weight * inverse_std).contiguous();
    const int64_t rows = RowCount(x), channels = x.size(1);
    const float* xp = x.data_ptr<float>();
    const float* gp = gy.data_ptr<float>();
    const float* mp = mean.data_ptr<float>();
    const float* sp = scale.data_ptr<float>();
    const float* bp = bias.data_ptr<float>();

    const std::vector<std::vector<double>> sums =
        SumOverBlocks<2>(rows, channels, [&](int64_t b, float* p) {
          SumGradients(a, xp, gp, BlockRows(b, rows, channels), mp, sp, bp, p, p + channels);
        });
    const torch::Tensor sum_gz = FloatTensor(sums[0]);
    const torch::Tensor sum_gz_xc = FloatTensor(sums[1]);
    torch::Tensor grad_x;
    if (ctx->needs_input_grad(0)) {
      // dx = scale * (gz - mean(gz) - (x - mean) * inverse_std^2 * mean(gz * (x - mean))).
      const double n = static_cast<double>(rows);
      const torch::Tensor k_gz = scale;
      const torch::Tensor k_xc = (-scale * inverse_std * inverse_std * sum_gz_xc / n).contiguous();
      const torch::Tensor k_0 = (-scale * sum_gz / n).contiguous();
      grad_x =
          torch::empty(x.sizes(), x.options().memory_format(torch::MemoryFormat::ChannelsLast));
      float* dp = grad_x.data_ptr<float>();
      at::parallel_for(0, BlockCount(rows), 1, [&](int64_t begin, int64_t end) {
        for (int64_t blk = begin; blk < end; ++blk) {
          InputGradient(a, xp, gp, dp, BlockRows(blk, rows, channels), mp, sp, bp,
                        k_gz.data_ptr<float>(), k_xc.data_ptr<float>(), k_0.data_ptr<float>());
        }
      });
    }
    return {grad_x,          sum_gz_xc * inverse_std, sum_gz,
            torch::Tensor(), torch::Tensor(),         torch::Tensor()};
  }
};

}  // namespace

torch::Tensor ApplyActivation(const torch::Tensor& x, Activation activation) {
  switch (activation) {
    case Activation::kRelu:
      return torch::relu(x);
    case Activation::kHardSwish:
      return torch::hardswish(x);
    case Activation::kNone:
      break;
  }
  return x;
}

bool FusedBatchNormActivationApplies(const torch::Tensor& x) {
  return x.defined() && x.is_cpu() && x.scalar_type() == torch::kFloat && x.dim() == 4 &&
         x.is_contiguous(torch::MemoryFormat::ChannelsLast) && RowCount(x) > 1;
}

torch::Tensor FusedBatchNormActivation(const torch::Tensor& x, const torch::Tensor& weight,
                                       const torch::Tensor& bias, double eps, Activation activation,
                                       BatchStatistics* statistics) {
  TORCH_CHECK(FusedBatchNormActivationApplies(x),
              "FusedBatchNormActivation: a float, channels-last, 4-d CPU tensor with more than "
              "one value per channel expected, got ",
              x.sizes());
  const int64_t channels = x.size(1);
  TORCH_CHECK(weight.numel() == channels && bias.numel() == channels &&
                  weight.scalar_type() == torch::kFloat && bias.scalar_type() == torch::kFloat,
              "FusedBatchNormActivation: weight and bias need ", channels, " floats");
  BatchStatistics batch = ComputeBatchStatistics(x);
  const torch::Tensor inverse_std = torch::rsqrt(batch.biased_variance + eps);
  torch::Tensor y = BatchNormActivationFunction::apply(x, weight, bias, batch.mean, inverse_std,
                                                       static_cast<int64_t>(activation));
  if (statistics != nullptr) *statistics = std::move(batch);
  return y;
}

}  // namespace ofa::trainer
