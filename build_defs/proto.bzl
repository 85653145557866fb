"""C++ (and gRPC) code generation from .proto files with Debian's protoc, offline.

Bazel 4.2.3's native proto rules want @com_google_protobuf, which would be downloaded; this macro
calls /usr/bin/protoc and /usr/bin/grpc_cpp_plugin directly instead. Generated files land in
bazel-bin and are never committed.
"""

_PROTOC = "/usr/bin/protoc"
_GRPC_PLUGIN = "/usr/bin/grpc_cpp_plugin"

def ofa_proto_library(name, src, deps = [], grpc = False, visibility = None):
    """A cc_library with the generated C++ code of one .proto file.

    The proto's import root is the package directory, so `src = "ofa/v1/job.proto"` in
    //proto is imported as "ofa/v1/job.proto" and included as "ofa/v1/job.pb.h".

    Args:
      name: the cc_library's name.
      src: the .proto file, relative to the package.
      deps: other ofa_proto_library targets whose .proto files `src` imports.
      grpc: also generate the gRPC service code (.grpc.pb.h/.cc).
      visibility: the cc_library's visibility.
    """
    stem = src[:-len(".proto")]
    outs = [stem + ".pb.h", stem + ".pb.cc"]
    plugin_args = ""
    if grpc:
        outs += [stem + ".grpc.pb.h", stem + ".grpc.pb.cc"]
        plugin_args = " --plugin=protoc-gen-grpc=%s --grpc_out=$(RULEDIR)" % _GRPC_PLUGIN
    dep_protos = [dep + "_proto_file" for dep in deps]

    native.filegroup(
        name = name + "_proto_file",
        srcs = [src] + dep_protos,
        visibility = visibility,
    )
    native.genrule(
        name = name + "_gen",
        srcs = [src] + dep_protos,
        outs = outs,
        # -I names the package directory (in the source tree) as the import root and
        # /usr/include for google/protobuf's well-known types.
        cmd = ("%s -I%s -I/usr/include --cpp_out=$(RULEDIR)%s $(location %s)" %
               (_PROTOC, native.package_name() or ".", plugin_args, src)),
        message = "protoc " + src,
    )
    native.cc_library(
        name = name,
        srcs = [o for o in outs if o.endswith(".cc")],
        hdrs = [o for o in outs if o.endswith(".h")],
        includes = ["."],
        deps = deps + (["@system//:grpc"] if grpc else ["@system//:protobuf"]),
        visibility = visibility,
    )
