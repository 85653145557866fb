# ofa-train, CUDA image: the CMake build (the GPU machines' build) against LibTorch's own CMake
# package with CUDA: PyPI's torch wheel, pinned as in deploy/local/requirements.txt, with the
# nvidia-* wheels it names (cuDNN, NCCL, cuBLAS, ... for CUDA 13.2); gRPC, protobuf, Abseil
# and the rest from Ubuntu 24.04, which packages the same versions as Debian 12. The final
# stage holds LibTorch's and those CUDA libraries and the binaries' runtime packages only.
#   docker build -f deploy/docker/cuda.Dockerfile -t ofa-train:0.1.0-cuda .
ARG CUDA_TAG=13.0.2-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_TAG=13.0.2-cudnn-runtime-ubuntu24.04

FROM nvidia/cuda:${CUDA_TAG} AS build
# The same torch as CI (deploy/local/requirements.txt), with its CUDA runtime wheels.
ARG TORCH_VERSION=2.15.0
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config python3-venv ca-certificates \
      libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev prometheus-cpp-dev libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev \
      zlib1g-dev libssl-dev libjpeg-dev libgloo-dev libonnx-dev libgtest-dev libgmock-dev && \
    rm -rf /var/lib/apt/lists/* && \
    python3 -m venv /opt/torch && /opt/torch/bin/pip install --no-cache-dir "torch==${TORCH_VERSION}"
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOFA_WITH_CUDA=ON \
      -DOFA_BUILD_TESTS=OFF \
      -DCMAKE_PREFIX_PATH=/opt/torch/lib/python3.12/site-packages/torch/share/cmake && \
    cmake --build /build && \
    mkdir -p /out/bin && \
    cp /build/ofa-coordinator /build/ofa-worker /build/ofa-trainer /build/ofactl /out/bin/ && \
    bash deploy/docker/runtime_packages.sh /out/bin/* \
      >/out/runtime-packages.txt

FROM nvidia/cuda:${CUDA_RUNTIME_TAG}
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update && \
    xargs apt-get install -y --no-install-recommends ca-certificates </tmp/runtime-packages.txt && \
    rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt && \
    groupadd --gid 10001 ofa && \
    useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin ofa
# LibTorch and the nvidia-* libraries, at the same relative places (its rpath is
# $ORIGIN/../../nvidia/...).
COPY --from=build /opt/torch/lib/python3.12/site-packages/torch/lib/ /opt/torch/site-packages/torch/lib/
COPY --from=build /opt/torch/lib/python3.12/site-packages/nvidia/ /opt/torch/site-packages/nvidia/
COPY --from=build /out/bin/ /opt/ofa/bin/
ENV PATH=/opt/ofa/bin:$PATH LD_LIBRARY_PATH=/opt/torch/site-packages/torch/lib
USER 10001:10001
ENTRYPOINT ["/opt/ofa/bin/ofa-coordinator"]
