#!/usr/bin/env bash
# The main job, end to end, on the embedded default: Fashion-MNIST (Debian's
# dataset-fashion-mnist) on the small OFA supernet, on this machine's CPUs.
# Extra arguments go to ofa-trainer (e.g. --plan_only).
set -euo pipefail
cd "$(dirname "$0")/../.."

bash deploy/local/setup.sh
bazel build --color=no --curses=no //trainer:ofa-trainer
exec bazel-bin/trainer/ofa-trainer --job_spec=deploy/local/fashion_mnist_job.json "$@"
