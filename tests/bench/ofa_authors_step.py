#!/usr/bin/env python3
"""One progressive-shrinking training step of the OFA authors' PyTorch code, timed.

    .deps/venv/bin/python3 tests/bench/ofa_authors_step.py --phase=elastic_kernel [--ofa_repo=PATH]

The authors' `ofa` package comes from PyPI (pinned in deploy/local/requirements.txt, on the
same torch wheel as our LibTorch), or from a checkout of
https://github.com/mit-han-lab/once-for-all given as --ofa_repo; none of its code is part of
this project. The step is the one of the
authors' `progressive_shrinking.train_one_epoch`: the teacher (`MobileNetV3Large`, k7 e6 d4, in
train mode under no_grad) gives soft labels once per step; for each of the phase's sub-nets
the seed is set, `sample_active_subnet()` is called, and label-smoothed cross entropy plus
kd_ratio x soft-target cross entropy is backpropagated; then one SGD step (Nesterov momentum
0.9, weight decay 3e-5 except "bn#bias"). Phases and their settings are those of the authors'
`train_ofa_net.py` for OFA-MobileNetV3 w1.0.

Prints one line, `images/s X peak_rss_mib Y parameters Z`, for compare_with_authors.py.
"""

import argparse
import os
import random
import resource
import sys
import time

# name: (ks_list, expand_ratio_list, depth_list, dynamic_batch_size, kd_ratio). The full phase
# trains the largest network of the whole space (set_max_net), kernel matrices included, as
# this project's full phase does.
FULL = "full"
PHASES = {
    FULL: ([3, 5, 7], [3, 4, 6], [2, 3, 4], 1, 0.0),
    "elastic_kernel": ([3, 5, 7], [6], [4], 1, 1.0),
    "elastic_depth_1": ([3, 5, 7], [6], [3, 4], 2, 1.0),
    "elastic_depth_2": ([3, 5, 7], [6], [2, 3, 4], 2, 1.0),
    "elastic_expand_1": ([3, 5, 7], [4, 6], [2, 3, 4], 4, 1.0),
    "elastic_expand_2": ([3, 5, 7], [3, 4, 6], [2, 3, 4], 4, 1.0),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ofa_repo", default="",
                        help="checkout of mit-han-lab/once-for-all (default: the installed ofa)")
    parser.add_argument("--phase", required=True, choices=sorted(PHASES))
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=10, help="timed steps, after 3 warm-up steps")
    parser.add_argument("--trace", help="also profile 3 more steps; write the chrome trace here")
    args = parser.parse_args()

    if args.ofa_repo:
        sys.path.insert(0, args.ofa_repo)
    # The wheel's libtorch_cuda wants NCCL 2.30 symbols that /usr/local/cuda's NCCL 2.28 lacks;
    # none is called on CPU, and lazy binding lets `import torch` load without them.
    sys.setdlopenflags(os.RTLD_LAZY | os.RTLD_GLOBAL)
    import torch
    import torch.nn.functional as F
    try:
        from ofa.imagenet_classification.elastic_nn.networks import OFAMobileNetV3
        from ofa.imagenet_classification.networks import MobileNetV3Large
        from ofa.utils import (accuracy, build_optimizer, cross_entropy_loss_with_soft_target,
                               cross_entropy_with_label_smoothing)
    except ImportError as e:
        sys.exit(f"cannot import the authors' ofa package ({args.ofa_repo or 'installed'}): {e}")

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    ks, expand, depth, nets_per_step, kd_ratio = PHASES[args.phase]
    net = OFAMobileNetV3(n_classes=1000, bn_param=(0.1, 1e-5), dropout_rate=0.1, width_mult=1.0,
                         ks_list=ks, expand_ratio_list=expand, depth_list=depth)
    teacher = None
    if kd_ratio > 0:
        teacher = MobileNetV3Large(n_classes=1000, bn_param=(0.1, 1e-5), dropout_rate=0,
                                   width_mult=1.0, ks=7, expand_ratio=6, depth_param=4)
    keys = ["bn", "bias"]
    optimizer = build_optimizer(
        [list(net.get_parameters(keys, mode="exclude")),
         list(net.get_parameters(keys, mode="include"))],
        "sgd", {"momentum": 0.9, "nesterov": True}, 0.01, 3e-5, "bn#bias")

    images = torch.randn(args.batch, 3, args.resolution, args.resolution)
    labels = torch.randint(0, 1000, (args.batch,))
    net.train()

    def step(i):
        soft_label = None
        if teacher is not None:
            teacher.train()
            with torch.no_grad():
                soft_logits = teacher(images).detach()
                soft_label = F.softmax(soft_logits, dim=1)
        net.zero_grad()
        for sub in range(nets_per_step):
            random.seed(int("%d%.3d%.3d" % (i, sub, 0)))
            if args.phase == FULL:
                net.set_max_net()
            else:
                net.sample_active_subnet()
            output = net(images)
            loss = cross_entropy_with_label_smoothing(output, labels, 0.1)
            if soft_label is not None:
                loss = kd_ratio * cross_entropy_loss_with_soft_target(output, soft_label) + loss
            loss.backward()
            accuracy(output, labels, topk=(1, 5))
        optimizer.step()

    for i in range(3):
        step(i)
    start = time.perf_counter()
    for i in range(args.steps):
        step(100 + i)
    seconds = time.perf_counter() - start
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    if args.trace:
        with torch.autograd.profiler.profile() as profile:
            for i in range(3):
                step(200 + i)
        profile.export_chrome_trace(args.trace)
    parameters = sum(p.numel() for p in net.parameters())
    print("images/s %.2f peak_rss_mib %.0f parameters %d"
          % (args.steps * args.batch / seconds, peak_mib, parameters))


if __name__ == "__main__":
    main()
