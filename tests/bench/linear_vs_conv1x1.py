#!/usr/bin/env python3
"""Linear layers as BLAS matrix products or as 1x1 convolutions, forward + backward.

    .deps/venv/bin/python3 tests/bench/linear_vs_conv1x1.py [--threads=2] [--rounds=5]

trainer/nn/linear_as_conv.h computes the squeeze-and-excitation layers and the classifier of
OFA-MobileNetV3 as 1x1 convolutions on CPU, because Debian's LibTorch 1.13 sent linear layers
to the reference BLAS. This measures both forms on the pinned torch wheel (the same
libtorch_cpu our binaries link) for those layers' shapes at batch 64 (w1.0): the SE reduce
and expand layers of each stage's widest expand width, and the 1280 -> 1000 classifier.
Linear and convolution alternate (ABBA per round); the table shows the medians in
microseconds per call and linear's speed-up over the convolution.
"""

import argparse
import os
import statistics
import sys
import time

# The wheel's libtorch_cuda wants NCCL symbols /usr/local/cuda's NCCL lacks; lazy binding lets
# `import torch` load on a CPU machine (see docs/toolchain.md).
sys.setdlopenflags(os.RTLD_LAZY | os.RTLD_GLOBAL)
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

# (in, out) of OFA-MobileNetV3 w1.0's SE layers (expanded width C -> C/4 -> C, at the widest
# expand ratio 6 of the stages with SE) and the classifier.
SHAPES = [(144, 36), (36, 144), (240, 60), (60, 240), (672, 168), (168, 672), (960, 240),
          (240, 960), (1280, 1000)]


def time_call(fn, iterations):
    fn()  # Warm-up: oneDNN builds its primitive on the first call.
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations * 1e6


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print("torch %s, batch %d, %d threads, %d rounds of %d calls (forward + backward)"
          % (torch.__version__, args.batch, args.threads, args.rounds, args.iterations))
    print("%12s %12s %12s %8s" % ("in -> out", "linear us", "conv1x1 us", "ratio"))
    for fan_in, fan_out in SHAPES:
        x = torch.randn(args.batch, fan_in, requires_grad=True)
        w = torch.randn(fan_out, fan_in, requires_grad=True)
        b = torch.randn(fan_out, requires_grad=True)

        def linear():
            F.linear(x, w, b).sum().backward()

        def conv():
            F.conv2d(x[:, :, None, None], w[:, :, None, None], b).flatten(1).sum().backward()

        runs = {"linear": [], "conv": []}
        for _ in range(args.rounds):
            for name in ("linear", "conv", "conv", "linear"):
                runs[name].append(time_call(linear if name == "linear" else conv,
                                            args.iterations))
        lin, cnv = statistics.median(runs["linear"]), statistics.median(runs["conv"])
        print("%12s %12.1f %12.1f %7.2fx" % ("%d -> %d" % (fan_in, fan_out), lin, cnv, cnv / lin),
              flush=True)


if __name__ == "__main__":
    main()
