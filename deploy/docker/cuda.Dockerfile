# ofa-train, CUDA image: the CMake build (the GPU machines' build) against LibTorch's own CMake
# package with CUDA, and NCCL from the NVIDIA CUDA base; gRPC, protobuf, Abseil and the rest
# from Ubuntu 24.04, which packages the same versions as Debian 12. The final stage holds the
# CUDA runtime, LibTorch's libraries and the binaries' runtime packages only.
#   docker build -f deploy/docker/cuda.Dockerfile -t ofa-train:0.1.0-cuda .
ARG CUDA_TAG=12.6.3-cudnn-devel-ubuntu24.04
ARG CUDA_RUNTIME_TAG=12.6.3-cudnn-runtime-ubuntu24.04

FROM nvidia/cuda:${CUDA_TAG} AS build
# LibTorch built for the base's CUDA (cxx11 ABI, as Ubuntu's libraries).
ARG LIBTORCH_URL=https://download.pytorch.org/libtorch/cu126/libtorch-cxx11-abi-shared-with-deps-2.7.1%2Bcu126.zip
RUN apt-get update && apt-get install -y --no-install-recommends \
      build-essential cmake ninja-build pkg-config curl unzip ca-certificates \
      libgrpc++-dev libgrpc-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler \
      libabsl-dev prometheus-cpp-dev libsqlite3-dev libyaml-cpp-dev nlohmann-json3-dev \
      zlib1g-dev libssl-dev libjpeg-dev libgloo-dev libonnx-dev libgtest-dev libgmock-dev && \
    rm -rf /var/lib/apt/lists/* && \
    curl -fsSL -o /tmp/libtorch.zip "$LIBTORCH_URL" && \
    unzip -q /tmp/libtorch.zip -d /opt && rm /tmp/libtorch.zip
WORKDIR /src
COPY . .
RUN cmake -S . -B /build -G Ninja -DCMAKE_BUILD_TYPE=Release -DOFA_WITH_CUDA=ON \
      -DOFA_BUILD_TESTS=OFF -DCMAKE_PREFIX_PATH=/opt/libtorch && \
    cmake --build /build && \
    mkdir -p /out/bin && \
    cp /build/ofa-coordinator /build/ofa-worker /build/ofa-trainer /build/ofactl /out/bin/ && \
    LD_LIBRARY_PATH=/opt/libtorch/lib bash deploy/docker/runtime_packages.sh /out/bin/* \
      >/out/runtime-packages.txt

FROM nvidia/cuda:${CUDA_RUNTIME_TAG}
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update && \
    xargs apt-get install -y --no-install-recommends ca-certificates </tmp/runtime-packages.txt && \
    rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt && \
    groupadd --gid 10001 ofa && \
    useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin ofa
COPY --from=build /opt/libtorch/lib/ /opt/libtorch/lib/
COPY --from=build /out/bin/ /opt/ofa/bin/
ENV PATH=/opt/ofa/bin:$PATH LD_LIBRARY_PATH=/opt/libtorch/lib
USER 10001:10001
ENTRYPOINT ["/opt/ofa/bin/ofa-coordinator"]
