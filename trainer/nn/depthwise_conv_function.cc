#include "trainer/nn/depthwise_conv_function.h"

#include <algorithm>
#include <atomic>

#include "trainer/nn/depthwise_weight_grad.h"

namespace ofa::trainer {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using torch::indexing::None;
using torch::indexing::Slice;
using Ints = torch::IntArrayRef;

// Stride-2 layers above this output side keep the native backward: there the custom one's
// dilated grad-w convolution leaves oneDNN's fast path (docs/performance.md).
constexpr int64_t kMaxCustomStride2OutputSide = 14;

std::atomic<DepthwiseBackward> backward_choice{DepthwiseBackward::kByShape};

class DepthwiseConvFunction : public torch::autograd::Function<DepthwiseConvFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w,
                               int64_t stride, bool channels_last) {
    ctx->save_for_backward({x, w});
    ctx->saved_data["stride"] = stride;
    ctx->saved_data["channels_last"] = channels_last;
    return torch::conv2d(x, w, {}, Ints{stride}, Ints{w.size(2) / 2}, Ints{1}, x.size(1));
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& w = saved[1];
    const int64_t s = ctx->saved_data["stride"].toInt();
    const bool channels_last = ctx->saved_data["channels_last"].toBool();
    const torch::MemoryFormat format =
        channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous;
    const torch::Tensor g = grads[0].contiguous(format);
    const int64_t k = w.size(2), p = k / 2;
    const int64_t n = x.size(0), c = x.size(1), h = x.size(2), wd = x.size(3);
    const int64_t ho = g.size(2), wo = g.size(3);

    torch::Tensor grad_x;
    if (s == 1) {
      grad_x = torch::conv2d(g, w.flip({2, 3}), {}, Ints{1}, Ints{p}, Ints{1}, c);
    } else {
      torch::Tensor spread = torch::zeros({n, c, (ho - 1) * s + 1, (wo - 1) * s + 1},
                                          g.options().memory_format(format));
      spread.index_put_({Slice(), Slice(), Slice(0, None, s), Slice(0, None, s)}, g);
      torch::Tensor full = torch::conv2d(spread, w.flip({2, 3}), {}, Ints{1}, Ints{k - 1},
                                         Ints{1}, c);
      grad_x = full.narrow(2, p, std::min(h, full.size(2) - p))
                   .narrow(3, p, std::min(wd, full.size(3) - p));
      // Input rows/columns the strided forward never read get zero gradient.
      grad_x = torch::constant_pad_nd(grad_x, {0, wd - grad_x.size(3), 0, h - grad_x.size(2)})
                   .contiguous(format);
    }
    if (channels_last) {
      return {grad_x, ChannelsLastDepthwiseWeightGrad(x, g, k, s), torch::Tensor(),
              torch::Tensor()};
    }
    const torch::Tensor padded =
        torch::constant_pad_nd(x, {p, p, p, p}).reshape({1, n * c, h + 2 * p, wd + 2 * p});
    torch::Tensor grad_w = torch::conv2d(padded, g.reshape({n * c, 1, ho, wo}), {}, Ints{1},
                                         Ints{0}, Ints{s}, n * c);
    grad_w = grad_w.narrow(2, 0, k).narrow(3, 0, k).reshape({n, c, k, k}).sum(0).unsqueeze(1);
    return {grad_x, grad_w, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

bool UsesCustomDepthwiseBackward(int64_t kernel, int64_t stride, int64_t output_side,
                                 bool channels_last) {
  // Channels last, 1.4-2.7x faster at k >= 5, stride 1; at stride 2 the zero-inserted grad_x
  // makes it slower (0.5-0.85x), and for k = 3 LibTorch's is faster.
  if (channels_last) return kernel >= 5 && stride == 1;
  if (kernel >= 5) return stride == 1 || output_side <= kMaxCustomStride2OutputSide;
  // Kernel 3: LibTorch's own backward is faster except on 1x1 and 2x2 maps, where it is
  // 6-36x slower than the forward convolutions of the custom one.
  if (kernel == 3) return output_side == 1 || (stride == 1 && output_side == 2);
  return false;  // 1x1, what larger kernels on 1x1 maps are cropped to: nothing to gain.
}

int64_t CroppedDepthwiseKernel(int64_t kernel, int64_t input_side) {
  return std::min(kernel, 2 * input_side - 1);
}

torch::Tensor DepthwiseConv2d(const torch::Tensor& x, const torch::Tensor& full_w, int64_t stride) {
  const int64_t k = CroppedDepthwiseKernel(full_w.size(2), std::max(x.size(2), x.size(3)));
  const int64_t margin = (full_w.size(2) - k) / 2;
  const torch::Tensor w = margin == 0 ? full_w : full_w.narrow(2, margin, k).narrow(3, margin, k);
  const int64_t out_side = (x.size(2) + 2 * (k / 2) - k) / stride + 1;
  // Channels last is how OfaSupernet runs on CPU; a tensor with 1x1 maps is both.
  const bool channels_last =
      !x.is_contiguous() && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
  const DepthwiseBackward choice = backward_choice.load(std::memory_order_relaxed);
  const bool custom = choice == DepthwiseBackward::kCustom ||
                      (choice == DepthwiseBackward::kByShape &&
                       UsesCustomDepthwiseBackward(k, stride, out_side, channels_last));
  // Measured on CPU only; CUDA keeps cuDNN's backward. Other layouts (strided views) too.
  if (!custom || !torch::GradMode::is_enabled() || !x.device().is_cpu() ||
      x.scalar_type() != torch::kFloat || !(x.is_contiguous() || channels_last)) {
    return torch::conv2d(x, w, {}, Ints{stride}, Ints{k / 2}, Ints{1}, x.size(1));
  }
  return DepthwiseConvFunction::apply(x, w, stride, channels_last);
}

void SetDepthwiseBackward(DepthwiseBackward choice) { backward_choice.store(choice); }

}  // namespace ofa::trainer
