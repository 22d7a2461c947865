#!/usr/bin/env node
// Peer latency: the TFLite runtime compiled to wasm (SIMD build, XNNPACK delegate) that ships in
// @tensorflow/tfjs-tflite@0.0.1-alpha.10, run in Node through the onnx-tflite peer's src/tflite_rt.js.
//
// Usage: node bench/peers/tflite_bench.js [--model] MODEL.tflite [--shape D0,D1,...] [--patch TENSOR=v,v,...]...
//                                         [--threads 1] [--runs 20] [--warmup 3] [--input FILE.f32]
//   --shape    new shape for the first input, same rank as declared (default: the declared shape). The wasm
//              runtime has no ResizeInputTensor, so the flatbuffer is patched in memory (peer's src/tflite_patch.js)
//   --patch    overwrite an int32 constant tensor (same element count), e.g. a Reshape target; may repeat.
//              MobileFaceNet.tflite ships with batch 2; a batch-1 copy (same output as slot 0) is
//                --shape 1,112,112,3 --patch MobileFaceNet/Logits/SpatialSqueeze_shape=1,192
//   --threads  comma-separated thread counts; one result line per value (default 1). Only the non-threaded SIMD
//              build can run in Node (the threaded one needs browser workers), so every line runs on one thread:
//              "threads" is 1 and "threads_requested" the value asked for
//   --runs     timed runs (default 20); --warmup untimed runs before them (default 3)
//   --input    raw little-endian float32 data for the first input (default: uniform random in [-1,1], fixed seed)
// Output (stdout, one JSON line per thread value; nothing else goes to stdout):
//   {"runtime":"tflite-wasm","version":"0.0.1-alpha.10","model":"MobileFaceNet.tflite","shape":[2,112,112,3],
//    "threads":1,"threads_requested":1,"runs":20,"warmup":3,"median_ms":31.8,"min_ms":31.0,"cpu_median_ms":31.7,"load1":1.2}
// Times one Infer() including copying the input in and the outputs out of the wasm heap.
'use strict';
const fs = require('fs');
const path = require('path');
const C = require('./common');

const USAGE = 'usage: node bench/peers/tflite_bench.js [--model] MODEL.tflite [--shape D0,D1,...] [--patch TENSOR=v,v,...]... '
  + '[--threads 1] [--runs 20] [--warmup 3] [--input FILE.f32]\n';
const args = C.parseArgs(process.argv.slice(2),
  { model: '', shape: '', patch: [], threads: '1', runs: '20', warmup: '3', input: '' }, USAGE);
if (args._.length + (args.model ? 1 : 0) !== 1) C.die(`need exactly one model\n${USAGE}`);
const model = args.model || args._[0];
const runs = C.parseList(args.runs, '--runs')[0];
const warmup = Number(args.warmup);
const threads = C.parseList(args.threads, '--threads');

(async () => {
  const { dir, req } = C.peerRequire('onnx-tflite');
  const { createRunner } = req(path.join(dir, 'src', 'tflite_rt.js'));
  const P = req(path.join(dir, 'src', 'tflite_patch.js'));
  const version = req('@tensorflow/tfjs-tflite/package.json').version;
  let bytes = fs.readFileSync(model);
  if (args.shape) bytes = P.patchInputShape(bytes, C.parseList(args.shape, '--shape'));
  for (const p of args.patch) {
    const eq = p.indexOf('=');
    if (eq <= 0) C.die(`bad --patch '${p}' (want TENSOR=v,v,...)`);
    bytes = P.patchTensorByName(bytes, p.slice(0, eq), { int32: p.slice(eq + 1).split(',').map(Number) });
  }
  for (const t of threads) {
    const r0 = await createRunner(bytes, { numThreads: 1 });
    const feeds = r0.inputInfo.map((inp, i) => C.inputData(inp.shape, i === 0 ? args.input : ''));
    const r = await C.timeIt(() => r0.run(feeds), warmup, runs);
    C.emit({ runtime: 'tflite-wasm', version, model: path.basename(model), shape: r0.inputInfo[0].shape, threads: 1, threads_requested: t, ...r });
  }
})().catch((e) => C.die(`${model}: ${e.message || e}`));
