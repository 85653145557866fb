"""LibTorch from PyPI's torch wheel (pinned in deploy/local/requirements.txt, installed by
deploy/local/setup.sh into .deps/venv) as a Bazel repository. Nothing is downloaded.

The wheel is a CUDA build: libtorch_cpu needs libcudart and libcupti at load time, which the
machine image's /usr/local/cuda provides; CPU binaries link libtorch_cpu and libc10 only.
Its include/ also holds a copy of protobuf's headers, which would shadow Debian's for our
generated code: the repository exposes every include/ entry but google/.
"""

def _torch_wheel_impl(rctx):
    root = rctx.path(Label("//:WORKSPACE")).dirname
    torch_dir = rctx.os.environ.get("OFA_TORCH_DIR", "")
    if not torch_dir:
        venv = rctx.os.environ.get("OFA_VENV", "%s/.deps/venv" % root)
        python = rctx.path("%s/bin/python3" % venv)
        if not python.exists:
            fail("no Python environment at %s: run deploy/local/setup.sh first" % venv)

        # find_spec locates the package without importing it (importing needs CUDA runtime
        # libraries the CPU build does not).
        found = rctx.execute([python, "-c", "import importlib.util as u; " +
                                            "print(u.find_spec('torch').submodule_search_locations[0])"])
        if found.return_code != 0:
            fail("no torch in %s: run deploy/local/setup.sh (%s)" % (venv, found.stderr))
        torch_dir = found.stdout.strip()
    for sub in ["include", "lib", "share/cmake/Torch"]:
        if not rctx.path("%s/%s" % (torch_dir, sub)).exists:
            fail("%s has no %s: not a LibTorch with C++ headers" % (torch_dir, sub))
    version = rctx.execute(["sed", "-n", "s/^__version__ = '\\(.*\\)'$/\\1/p",
                            "%s/version.py" % torch_dir]).stdout.strip()
    for entry in rctx.path("%s/include" % torch_dir).readdir():
        if entry.basename != "google":
            rctx.symlink(entry, "include/" + entry.basename)
    rctx.symlink("%s/lib" % torch_dir, "lib")
    rctx.file("version.txt", version + "\n")
    rctx.file("BUILD", rctx.read(rctx.attr.build_file).replace("{TORCH_LIB}", "%s/lib" % torch_dir))

torch_wheel_repository = repository_rule(
    implementation = _torch_wheel_impl,
    attrs = {"build_file": attr.label(allow_single_file = True)},
    environ = [
        "OFA_TORCH_DIR",
        "OFA_VENV",
    ],
    local = True,
)
