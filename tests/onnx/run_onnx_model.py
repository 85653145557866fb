"""Runs an ONNX model with ONNX Runtime (CPU) on one float32 input read from a raw file and
writes its first output as raw float32, so a C++ test can compare it with LibTorch.

    python3 run_onnx_model.py MODEL.onnx INPUT.f32 DIM[,DIM...] OUTPUT.f32

Prints one JSON line: {"input": name, "output": name, "dims": [...]}. Exits 2 on bad
arguments, 3 when onnxruntime is missing, 1 when the runtime rejects the model or input.
"""

import json
import sys


def main(argv):
    if len(argv) != 4:
        print("usage: python3 run_onnx_model.py MODEL.onnx INPUT.f32 DIM[,DIM...] OUTPUT.f32",
              file=sys.stderr)
        return 2
    model, input_path, dims_arg, output_path = argv
    try:
        import numpy as np
        import onnxruntime as ort
    except ImportError as e:
        print(f"onnxruntime is not installed in {sys.executable}'s environment "
              f"(run deploy/local/setup.sh): {e}", file=sys.stderr)
        return 3
    data = np.fromfile(input_path, dtype=np.float32)
    try:
        dims = [int(d) for d in dims_arg.split(",")]
    except ValueError:
        dims = []
    if not dims or any(d <= 0 for d in dims) or int(np.prod(dims)) != data.size:
        print(f"dims {dims_arg} do not match the {data.size} floats in {input_path}",
              file=sys.stderr)
        return 2
    # Errors only on stderr: ONNX Runtime otherwise warns there, for instance that it cannot
    # persist a telemetry id in a read-only home (as in Bazel's sandbox).
    ort.set_default_logger_severity(3)
    try:
        session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        output_name = session.get_outputs()[0].name
        (out,) = session.run([output_name], {input_name: data.reshape(dims)})
    except Exception as e:  # The runtime's own errors: a rejected model, shape or type.
        print(f"ONNX Runtime: {e}", file=sys.stderr)
        return 1
    np.ascontiguousarray(out, dtype=np.float32).tofile(output_path)
    print(json.dumps({"input": input_name, "output": output_name, "dims": list(out.shape)},
                     separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
