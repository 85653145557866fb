#!/usr/bin/env python3
"""Runs two commands in ABBA order and prints each run, the medians and their ratio.

    python3 tests/bench/abba.py --rounds=2 --pattern='^full +\\S+ +\\S+ +([\\d.]+)' \\
        --a='/tmp/old/trainer_step_bench --phases=full --native_baseline=false --rounds=1' \\
        --b='bazel-bin/tests/bench/trainer_step_bench --phases=full --native_baseline=false --rounds=1'

For comparisons two builds or two settings of one binary (an old and a new LibTorch, with and
without LD_PRELOAD=tcmalloc): the machines this runs on are shared and noisy, so A and B
alternate (A B B A per round) and the medians are compared. --pattern's first group, found in
a run's output (multi-line), is the number measured; the ratio is B / A. Each command is run by
the shell, so it may set variables (`LD_PRELOAD=... cmd`).
"""

import argparse
import re
import statistics
import subprocess
import sys


def measure(command, pattern):
    result = subprocess.run(command, shell=True, capture_output=True, text=True)
    match = re.search(pattern, result.stdout, re.MULTILINE)
    if result.returncode != 0 or not match:
        sys.exit("%s: exit %d, no match for %r in:\n%s%s" % (command, result.returncode, pattern,
                                                             result.stdout[-3000:],
                                                             result.stderr[-2000:]))
    return float(match.group(1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", required=True, help="command A (the baseline)")
    parser.add_argument("--b", required=True, help="command B")
    parser.add_argument("--pattern", required=True, help="regex; group 1 is the number")
    parser.add_argument("--rounds", type=int, default=2, help="ABBA rounds (2 runs of each)")
    parser.add_argument("--label", default="", help="printed before the result line")
    args = parser.parse_args()
    if args.rounds < 1:
        sys.exit("--rounds must be at least 1")

    runs = {"A": [], "B": []}
    for _ in range(args.rounds):
        for which in "ABBA":
            value = measure(args.a if which == "A" else args.b, args.pattern)
            runs[which].append(value)
            print("  %s %.2f" % (which, value), flush=True)
    a, b = statistics.median(runs["A"]), statistics.median(runs["B"])
    print("%sA median %.2f (%s), B median %.2f (%s), B/A %.2fx" % (
        args.label + ": " if args.label else "", a, ", ".join("%.2f" % v for v in runs["A"]),
        b, ", ".join("%.2f" % v for v in runs["B"]), b / a))


if __name__ == "__main__":
    main()
