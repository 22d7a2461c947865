#!/usr/bin/env node
// Peer latency: onnxruntime-node 1.30.0 (CPU execution provider) on one .onnx model.
//
// Usage: node bench/peers/ort_bench.js [--model] MODEL.onnx [--shape D0,D1,...] [--threads 1,2] [--runs 20] [--warmup 3]
//                                      [--input FILE.f32]
//   --shape    input shape of the model's first input (default: its declared shape; required when dynamic)
//   --threads  comma-separated intra-op thread counts; one result line per count (default 1,2)
//   --runs     timed runs per thread count (default 20, at least 1); --warmup untimed runs before them (default 3)
//   --input    raw little-endian float32 input (default: uniform random in [-1,1], fixed seed)
// Session options: intraOpNumThreads=N, interOpNumThreads=1, sequential execution, graph optimisation 'all'
// (as the peer's src/bench.js). Further inputs, if any, get random data at their declared shapes.
// Output (stdout, one JSON line per thread count; nothing else goes to stdout):
//   {"runtime":"onnxruntime-node","version":"1.30.0","model":"fr_feature.onnx","shape":[1,3,112,112],
//    "threads":1,"runs":20,"warmup":3,"median_ms":9.1,"min_ms":8.9,"cpu_median_ms":9.0,"load1":1.2}
// median_ms/min_ms: wall time of one session.run(); cpu_median_ms: process CPU time (user+sys) per run.
// Exit status 1 with a message on stderr when the model cannot be loaded or run.
'use strict';
const path = require('path');
const C = require('./common');

const USAGE = 'usage: node bench/peers/ort_bench.js [--model] MODEL.onnx [--shape D0,D1,...] [--threads 1,2] [--runs 20] '
  + '[--warmup 3] [--input FILE.f32]\n';
const args = C.parseArgs(process.argv.slice(2), { model: '', shape: '', threads: '1,2', runs: '20', warmup: '3', input: '' }, USAGE);
if (args._.length + (args.model ? 1 : 0) !== 1) C.die(`need exactly one model\n${USAGE}`);
const model = args.model || args._[0];
const runs = C.parseList(args.runs, '--runs')[0];
const warmup = Number(args.warmup);
const threads = C.parseList(args.threads, '--threads');

(async () => {
  const { req } = C.peerRequire('onnx-tflite');
  const ort = req('onnxruntime-node');
  const version = req('onnxruntime-node/package.json').version;
  for (const t of threads) {
    const sess = await ort.InferenceSession.create(model, {
      intraOpNumThreads: t, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all', logSeverityLevel: 3,
    });
    const meta = sess.inputMetadata || sess.inputNames.map((name) => ({ name, shape: [] }));
    const feeds = {};
    let shape0 = null;
    meta.forEach((m, i) => {
      let shape = m.shape;
      if (i === 0 && args.shape) shape = C.parseList(args.shape, '--shape');
      if (!shape.length || shape.some((d) => typeof d !== 'number' || d <= 0)) C.die(`${model}: input '${m.name}' has shape [${shape}]; pass --shape`);
      if (i === 0) shape0 = shape;
      feeds[m.name] = new ort.Tensor('float32', C.inputData(shape, i === 0 ? args.input : ''), shape);
    });
    const r = await C.timeIt(() => sess.run(feeds), warmup, runs);
    C.emit({ runtime: 'onnxruntime-node', version, model: path.basename(model), shape: shape0, threads: t, ...r });
    await sess.release();
  }
})().catch((e) => C.die(`${model}: ${e.message || e}`));
