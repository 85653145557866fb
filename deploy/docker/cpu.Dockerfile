# ofa-train, CPU image: Debian 12 with the same packages and Bazel build as CI
# (deploy/local/setup.sh, LibTorch from the pinned torch wheel), the four binaries, and
# Fashion-MNIST for the demo job. The final stage holds only the shared libraries the binaries
# load: Debian packages (runtime_packages.sh), LibTorch's CPU libraries, and the CUDA runtime
# and CUPTI that the wheel's libtorch_cpu needs at load time (from PyPI: a Debian image has
# no /usr/local/cuda).
#   docker build -f deploy/docker/cpu.Dockerfile -t ofa-train:0.1.0-cpu .
FROM debian:12.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends sudo ca-certificates && \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The CI machine's setup (Debian packages, the pinned PyPI venv with torch), then the Bazel
# build. CUDA's runtime comes as the wheels of the version torch was built with.
RUN bash deploy/local/setup.sh && \
    .deps/venv/bin/python3 -m pip install --no-deps --target /opt/cuda-runtime \
      nvidia-cuda-runtime==13.2.86 nvidia-cuda-cupti==13.2.86 && \
    mkdir -p /out/lib && \
    cp -L .deps/venv/lib/python3.11/site-packages/torch/lib/libtorch_cpu.so \
      .deps/venv/lib/python3.11/site-packages/torch/lib/libc10.so \
      .deps/venv/lib/python3.11/site-packages/torch/lib/libgomp.so.1 \
      /opt/cuda-runtime/nvidia/cu13/lib/libcudart.so.13 \
      /opt/cuda-runtime/nvidia/cu13/lib/libcupti.so.13 /out/lib/ && \
    bazel build --color=no --curses=no -c opt \
      //coordinator:ofa-coordinator //worker:ofa-worker //trainer:ofa-trainer //ofactl && \
    mkdir -p /out/bin && \
    cp bazel-bin/coordinator/ofa-coordinator bazel-bin/worker/ofa-worker \
      bazel-bin/trainer/ofa-trainer bazel-bin/ofactl/ofactl /out/bin/ && \
    LD_LIBRARY_PATH=/out/lib bash deploy/docker/runtime_packages.sh /out/bin/* \
      >/out/runtime-packages.txt

FROM debian:12.11-slim
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update && \
    xargs apt-get install -y --no-install-recommends dataset-fashion-mnist ca-certificates \
      </tmp/runtime-packages.txt && \
    rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt && \
    groupadd --gid 10001 ofa && \
    useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin ofa
COPY --from=build /out/lib/ /opt/ofa/lib/
COPY --from=build /out/bin/ /opt/ofa/bin/
ENV PATH=/opt/ofa/bin:$PATH LD_LIBRARY_PATH=/opt/ofa/lib
# The Kubernetes manifests run as this user too (runAsUser: 10001).
USER 10001:10001
# ofa-worker, ofa-trainer and ofactl are beside it; the manifests pick one with `command`.
ENTRYPOINT ["/opt/ofa/bin/ofa-coordinator"]
