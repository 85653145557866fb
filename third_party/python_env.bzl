"""The project's Python environment (.deps/venv, made by deploy/local/setup.sh) as a repository.

Tests that run host Python tools (ONNX Runtime, the Kubernetes schema checks) depend on
`@python_env//:python3`, a wrapper that runs the venv's interpreter. The venv lives outside
Bazel's view, so those tests are tagged "external": Bazel never answers them from its cache.
"""

def _python_env_impl(rctx):
    root = rctx.path(Label("//:WORKSPACE")).dirname
    venv = rctx.os.environ.get("OFA_VENV", "%s/.deps/venv" % root)
    python = rctx.path("%s/bin/python3" % venv)
    if not python.exists:
        fail("no Python environment at %s: run deploy/local/setup.sh first " % venv +
             "(or set OFA_VENV to a venv that has the packages it installs)")
    rctx.file("python3", "#!/bin/sh\nexec '%s' \"$@\"\n" % python, executable = True)
    rctx.file("BUILD", """package(default_visibility = ["//visibility:public"])
exports_files(["python3"])
""")

python_env_repository = repository_rule(
    implementation = _python_env_impl,
    environ = ["OFA_VENV"],
    local = True,
)
