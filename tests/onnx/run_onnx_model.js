// Runs an ONNX model with ONNX Runtime (CPU) on one float32 input read from a raw file and
// writes its first output as raw float32, so a C++ test can compare it with LibTorch.
//
//   node run_onnx_model.js MODEL.onnx INPUT.f32 DIM[,DIM...] OUTPUT.f32
//
// Prints one JSON line: {"input": name, "output": name, "dims": [...]}. Exits 2 on bad
// arguments, 3 when onnxruntime-node is missing, 1 when the runtime rejects the model or input.
'use strict';
const fs = require('fs');

const [model, inputPath, dimsArg, outputPath] = process.argv.slice(2);
if (!model || !inputPath || !dimsArg || !outputPath) {
  console.error('usage: node run_onnx_model.js MODEL.onnx INPUT.f32 DIM[,DIM...] OUTPUT.f32');
  process.exit(2);
}
let ort;
try {
  ort = require('onnxruntime-node');
} catch (e) {
  console.error(`onnxruntime-node is not installed next to ${__filename} ` +
                '(run deploy/local/setup.sh): ' + e.message);
  process.exit(3);
}
const dims = dimsArg.split(',').map(Number);
const bytes = fs.readFileSync(inputPath);
const data = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
if (dims.some((d) => !Number.isInteger(d) || d <= 0) ||
    dims.reduce((a, b) => a * b, 1) !== data.length) {
  console.error(`dims ${dimsArg} do not match the ${data.length} floats in ${inputPath}`);
  process.exit(2);
}

(async () => {
  const session = await ort.InferenceSession.create(model, {executionProviders: ['cpu']});
  const input = session.inputNames[0];
  const output = session.outputNames[0];
  const results = await session.run({[input]: new ort.Tensor('float32', data, dims)});
  const out = results[output];
  fs.writeFileSync(outputPath, Buffer.from(out.data.buffer, out.data.byteOffset,
                                           out.data.byteLength));
  console.log(JSON.stringify({input, output, dims: out.dims}));
})().catch((e) => {
  console.error(`ONNX Runtime: ${e.message}`);
  process.exit(1);
});
