#!/usr/bin/env python3
"""This project's training step beside the OFA authors' PyTorch step, per phase.

    bazel build -c opt //tests/bench:trainer_step_bench
    python3 tests/bench/compare_with_authors.py --ours=bazel-bin/tests/bench/trainer_step_bench

OFA-MobileNetV3 w1.0 at 32x32, batch 64, 2 threads by default. Every measurement is a fresh
process (3 warm-up steps, then --steps timed steps); the two implementations alternate, in
ABBA order, for --rounds rounds per phase, and the medians are shown, because the machines
this runs on are shared and noisy. The authors' code is PyPI's `ofa` package in the project's
venv (deploy/local/setup.sh), whose torch is the same wheel our LibTorch comes from, so both
sides run the same kernels; --ofa_repo=PATH takes a checkout of mit-han-lab/once-for-all
instead.

Both sides get the same malloc settings: by default the ones ofa-trainer sets for itself
(RetainFreedHeapMemory), given to Python through GLIBC_TUNABLES; --malloc=glibc measures both
with glibc's defaults instead.
"""

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

PHASES = ["full", "elastic_kernel", "elastic_depth_2", "elastic_expand_2"]
# What RetainFreedHeapMemory (trainer/common/heap_retention.cc) sets with mallopt.
RETAIN_TUNABLES = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647"


def run(command, env=None):
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    if result.returncode != 0:
        sys.exit("failed (exit %d): %s\n%s" % (result.returncode, " ".join(command),
                                               result.stderr[-2000:]))
    return result.stdout


def measure_ours(args, phase):
    out = run([args.ours, "--preset=ofa_mbv3_w1.0", "--phases=" + phase,
               "--native_baseline=false", "--rounds=1", "--steps=%d" % args.steps,
               "--batch=%d" % args.batch, "--resolution=%d" % args.resolution,
               "--threads=%d" % args.threads,
               "--retain_freed_memory=%s" % str(args.malloc == "retain").lower()])
    parameters = int(re.search(r"(\d+) parameters", out).group(1))
    row = next(line.split() for line in out.splitlines() if line.startswith(phase + " "))
    # phase, nets, kd, images/s, peak RSS MiB
    return float(row[3]), float(row[4]), int(row[1]), parameters


def authors_env(args):
    env = dict(os.environ)
    env.pop("GLIBC_TUNABLES", None)
    if args.malloc == "retain":
        env["GLIBC_TUNABLES"] = RETAIN_TUNABLES
    return env


def measure_authors(args, phase):
    out = run([args.python, str(Path(__file__).with_name("ofa_authors_step.py")),
               "--ofa_repo=" + args.ofa_repo, "--phase=" + phase, "--steps=%d" % args.steps,
               "--batch=%d" % args.batch, "--resolution=%d" % args.resolution,
               "--threads=%d" % args.threads], env=authors_env(args))
    m = re.search(r"images/s ([\d.]+) peak_rss_mib ([\d.]+) parameters (\d+)", out)
    if not m:
        sys.exit("unexpected output of ofa_authors_step.py:\n" + out)
    return float(m.group(1)), float(m.group(2)), int(m.group(3))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ofa_repo", default="",
                        help="checkout of mit-han-lab/once-for-all (default: PyPI's ofa in the venv)")
    parser.add_argument("--ours", required=True, help="the trainer_step_bench binary")
    parser.add_argument("--python",
                        default=str(Path(__file__).resolve().parents[2] / ".deps/venv/bin/python3"),
                        help="Python with the pinned torch wheel and ofa (the project's venv)")
    parser.add_argument("--phases", default=",".join(PHASES))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--resolution", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--malloc", choices=["retain", "glibc"], default="retain",
                        help="malloc settings of both sides (see above)")
    args = parser.parse_args()

    print("OFA-MobileNetV3 w1.0 at %dx%d, batch %d, %d threads, %d timed steps, %d rounds"
          % (args.resolution, args.resolution, args.batch, args.threads, args.steps,
             args.rounds))
    print("%-18s %5s %12s %14s %7s %10s %14s" % ("phase", "nets", "ours img/s",
                                                  "authors img/s", "ratio", "ours MiB",
                                                  "authors MiB"))
    for phase in args.phases.split(","):
        ours, authors = [], []
        for round_index in range(args.rounds):
            pair = [lambda: ours.append(measure_ours(args, phase)),
                    lambda: authors.append(measure_authors(args, phase))]
            for measure in (pair if round_index % 2 == 0 else reversed(pair)):
                measure()
        if ours[0][3] != authors[0][2]:
            sys.exit("%s: the two supernets differ: %d parameters here, %d in the authors' code"
                     % (phase, ours[0][3], authors[0][2]))
        ours_ips = statistics.median(r[0] for r in ours)
        authors_ips = statistics.median(r[0] for r in authors)
        print("%-18s %5d %12.1f %14.1f %6.2fx %10.0f %14.0f" % (
            phase, ours[0][2], ours_ips, authors_ips, ours_ips / authors_ips,
            max(r[1] for r in ours), max(r[1] for r in authors)))
        print("  runs: ours %s; authors %s" % (", ".join("%.1f" % r[0] for r in ours),
                                               ", ".join("%.1f" % r[0] for r in authors)),
              flush=True)


if __name__ == "__main__":
    main()
