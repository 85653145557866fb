# ofa-train, CPU image: Debian 12 with the same packages and Bazel build as CI
# (deploy/local/setup.sh), the four binaries, and Fashion-MNIST for the demo job. The final
# stage holds only the shared libraries the binaries load (runtime_packages.sh).
#   docker build -f deploy/docker/cpu.Dockerfile -t ofa-train:0.1.0-cpu .
FROM debian:12.11-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends sudo ca-certificates && \
    rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# The CI machine's setup (Debian packages, the tests' pinned PyPI venv), then the Bazel build.
RUN bash deploy/local/setup.sh && \
    bazel build --color=no --curses=no -c opt \
      //coordinator:ofa-coordinator //worker:ofa-worker //trainer:ofa-trainer //ofactl && \
    mkdir -p /out/bin && \
    cp bazel-bin/coordinator/ofa-coordinator bazel-bin/worker/ofa-worker \
      bazel-bin/trainer/ofa-trainer bazel-bin/ofactl/ofactl /out/bin/ && \
    bash deploy/docker/runtime_packages.sh /out/bin/* >/out/runtime-packages.txt

FROM debian:12.11-slim
COPY --from=build /out/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update && \
    xargs apt-get install -y --no-install-recommends dataset-fashion-mnist ca-certificates \
      </tmp/runtime-packages.txt && \
    rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt && \
    groupadd --gid 10001 ofa && \
    useradd --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin ofa
COPY --from=build /out/bin/ /opt/ofa/bin/
ENV PATH=/opt/ofa/bin:$PATH
# The Kubernetes manifests run as this user too (runAsUser: 10001).
USER 10001:10001
# ofa-worker, ofa-trainer and ofactl are beside it; the manifests pick one with `command`.
ENTRYPOINT ["/opt/ofa/bin/ofa-coordinator"]
