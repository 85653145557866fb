#include <chrono>
#include <cstdio>
#include <torch/torch.h>
using torch::autograd::AutogradContext; using torch::autograd::variable_list;
using IA = torch::IntArrayRef;
struct Dw : public torch::autograd::Function<Dw> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& x, const torch::Tensor& w, int64_t stride) {
    ctx->save_for_backward({x, w}); ctx->saved_data["stride"] = stride;
    return torch::conv2d(x, w, {}, stride, w.size(2) / 2, 1, x.size(1));
  }
  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables(); auto x = saved[0], w = saved[1];
    const int64_t s = ctx->saved_data["stride"].toInt(); auto g = grads[0].contiguous();
    const int64_t k = w.size(2), p = k / 2, N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    const int64_t Ho = g.size(2), Wo = g.size(3);
    torch::Tensor gx;
    if (s == 1) {
      gx = torch::conv2d(g, w.flip({2, 3}), {}, IA{1}, IA{p}, IA{1}, C);
    } else {
      // Zero-insert g to stride 1, then a flipped-kernel depthwise conv.
      auto up = torch::zeros({N, C, (Ho - 1) * s + 1, (Wo - 1) * s + 1}, g.options());
      up.index_put_({torch::indexing::Slice(), torch::indexing::Slice(), torch::indexing::Slice(0, torch::indexing::None, s), torch::indexing::Slice(0, torch::indexing::None, s)}, g);
      auto full = torch::conv2d(up, w.flip({2, 3}), {}, IA{1}, IA{k - 1}, IA{1}, C);  // size (Ho-1)s+k
      gx = full.narrow(2, p, H).narrow(3, p, W);
      if (gx.size(2) < H || gx.size(3) < W) gx = torch::constant_pad_nd(gx, {0, W - gx.size(3), 0, H - gx.size(2)});
    }
    // grad_w: depthwise conv over N*C channels: input xpad [1, N*C, Hp, Wp], kernel g [N*C, 1, Ho, Wo], dilation s.
    auto xp = torch::constant_pad_nd(x, {p, p, p, p}).reshape({1, N * C, H + 2 * p, W + 2 * p});
    auto gw = torch::conv2d(xp, g.reshape({N * C, 1, Ho, Wo}), {}, IA{1}, IA{0}, IA{s}, N * C);
    gw = gw.narrow(2, 0, k).narrow(3, 0, k).reshape({N, C, k, k}).sum(0).unsqueeze(1);
    return variable_list{gx, gw, torch::Tensor()};
  }
};
double Time(std::function<void()> f, int n=20) { for(int i=0;i<3;++i) f(); auto t0 = std::chrono::steady_clock::now(); for (int i=0;i<n;++i) f(); return std::chrono::duration<double>(std::chrono::steady_clock::now()-t0).count()/n*1000; }
int main() {
  torch::set_num_threads(2);
  for (int s : {1, 2}) for (int k : {3, 5, 7}) for (int64_t hw : {7, 14}) {
    auto x = torch::randn({128, 144, hw, hw}, torch::requires_grad());
    auto w = torch::randn({144, 1, k, k}, torch::requires_grad());
    auto y1 = torch::conv2d(x, w, {}, s, k/2, 1, 144); auto gy = torch::randn_like(y1);
    auto r = torch::autograd::grad({y1}, {x, w}, {gy});
    auto y2 = Dw::apply(x, w, s); auto r2 = torch::autograd::grad({y2}, {x, w}, {gy});
    double ex = (r[0]-r2[0]).abs().max().item<float>(), ew = (r[1]-r2[1]).abs().max().item<float>() / r[1].abs().max().item<float>();
    double a = Time([&]{ auto y = torch::conv2d(x, w, {}, s, k/2, 1, 144); y.backward(gy); });
    double b = Time([&]{ auto y = Dw::apply(x, w, s); y.backward(gy); });
    printf("s%d k%d hw%ld err gx %.1e gw %.1e | native %.2f ms custom %.2f ms\n", s, k, hw, ex, ew, a, b);
  }
}
