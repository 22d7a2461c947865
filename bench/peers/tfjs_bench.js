#!/usr/bin/env node
// Peer latency: TensorFlow.js 4.22.0 graph model (model.json + .bin shards) on the wasm backend (SIMD, 1 thread:
// tfjs hard-codes no multithreading in Node) or the pure-JS cpu backend, set up as the tfjs peer does
// (src/common.js initTf, src/file_io.js for file:// loading without tfjs-node).
//
// Usage: node bench/peers/tfjs_bench.js [--model] MODEL.json [--shape D0,D1,...] [--backend wasm|cpu]
//                                       [--threads 1] [--runs 20] [--warmup 3] [--input FILE.f32]
//   --shape    shape of the first input (default: its declared shape with -1 dimensions set to 1)
//   --backend  wasm (default) or cpu
//   --threads  comma-separated thread counts; one result line per value (default 1). Both backends run on one
//              thread in Node, so "threads" is 1 and "threads_requested" the value asked for
//   --runs     timed runs (default 20); --warmup untimed runs before them (default 3)
//   --input    raw little-endian float32 data for the first input (default: uniform random in [-1,1], fixed seed)
// Output (stdout, one JSON line per --threads value; nothing else goes to stdout):
//   {"runtime":"tfjs-wasm","version":"4.22.0","model":"faceres.json","shape":[1,224,224,3],"threads":1,
//    "threads_requested":1,"runs":20,"warmup":3,"median_ms":60.1,"min_ms":58.0,"cpu_median_ms":60.0,"load1":1.2}
// Times model.execute() plus downloading every output (await data()), the way a caller gets results.
'use strict';
const path = require('path');
const { pathToFileURL } = require('url');
const C = require('./common');

const USAGE = 'usage: node bench/peers/tfjs_bench.js [--model] MODEL.json [--shape D0,D1,...] [--backend wasm|cpu] '
  + '[--threads 1] [--runs 20] [--warmup 3] [--input FILE.f32]\n';
const args = C.parseArgs(process.argv.slice(2), { model: '', shape: '', backend: 'wasm', threads: '1', runs: '20', warmup: '3', input: '' }, USAGE);
if (args._.length + (args.model ? 1 : 0) !== 1) C.die(`need exactly one model\n${USAGE}`);
if (!['wasm', 'cpu'].includes(args.backend)) C.die(`--backend must be wasm or cpu\n${USAGE}`);
const model = path.resolve(args.model || args._[0]);
const runs = C.parseList(args.runs, '--runs')[0];
const warmup = Number(args.warmup);
const threads = C.parseList(args.threads, '--threads');

(async () => {
  const { dir, req } = C.peerRequire('tfjs');
  const tf = req('@tensorflow/tfjs');
  req(path.join(dir, 'src', 'file_io.js')).register(tf);
  if (args.backend === 'wasm') {
    const wasm = req('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  } else {
    req('@tensorflow/tfjs-backend-cpu');
  }
  if (!(await tf.setBackend(args.backend))) C.die(`tfjs backend ${args.backend} failed to initialise`);
  await tf.ready();
  const m = await tf.loadGraphModel(pathToFileURL(model).href);
  const ins = m.inputs;
  const feeds = {};
  let shape0 = null;
  ins.forEach((inp, i) => {
    let shape = (inp.shape || []).map((d) => (d === -1 || d === null ? 1 : d));
    if (i === 0 && args.shape) shape = C.parseList(args.shape, '--shape');
    if (!shape.length) C.die(`${model}: input '${inp.name}' has no declared shape; pass --shape`);
    if (i === 0) shape0 = shape;
    feeds[inp.name] = tf.tensor(C.inputData(shape, i === 0 ? args.input : ''), shape, 'float32');
  });
  const run = async () => {
    let out = m.execute(feeds);
    out = Array.isArray(out) ? out : [out];
    await Promise.all(out.map((t) => t.data()));
    tf.dispose(out);
  };
  for (const t of threads) {
    const r = await C.timeIt(run, warmup, runs);
    C.emit({ runtime: `tfjs-${args.backend}`, version: tf.version_core, model: path.basename(model), shape: shape0, threads: 1, threads_requested: t, ...r });
  }
})().catch((e) => C.die(`${model}: ${e.message || e}`));
