#!/usr/bin/env node
// Peer end-to-end latency: @vladmandic/face-api 1.7.15 on TF.js wasm (SIMD, 1 thread — tfjs 4.22 has no wasm threads
// in Node), SSD-MobileNetV1 (minConfidence 0.5, maxResults 100, input 512) + 68 landmarks + 128-d descriptor per face.
//
// Usage: node bench/peers/pipeline_faceapi.js [--runs 5] [--warmup 1] IMAGE.jpg...
// Per image: `warmup` untimed calls, then `runs` timed calls of: read file + jpeg-js decode + tensor3d +
// detectAllFaces(...).withFaceLandmarks().withFaceDescriptors() (results downloaded to JS) + dispose.
// decode_ms: median of the read + jpeg-js decode part alone (inside the timed calls).
// Output (stdout, one JSON line per image, in argument order):
//   {"peer":"face-api","index":0,"file":"sample1.jpg","faces":3,"median_ms":812.3,"min_ms":..,"cpu_median_ms":..,
//    "runs":5,"decode_ms":..,"warmup":1,"load1":1.2}
'use strict';
const fs = require('fs');
const path = require('path');
const C = require('./common');

const USAGE = 'usage: node bench/peers/pipeline_faceapi.js [--runs 5] [--warmup 1] IMAGE.jpg...\n';
const args = C.parseArgs(process.argv.slice(2), { runs: '5', warmup: '1' }, USAGE);
if (!args._.length) C.die(`no images\n${USAGE}`);
const runs = C.parseList(args.runs, '--runs')[0];
const warmup = Number(args.warmup);

(async () => {
  const { dir, req } = C.peerRequire('tfjs');
  const tf = req('@tensorflow/tfjs');
  const wasm = req('@tensorflow/tfjs-backend-wasm');
  const jpeg = req('jpeg-js');
  wasm.setWasmPaths(path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep);
  if (!(await tf.setBackend('wasm'))) C.die('tfjs wasm backend failed to initialise');
  await tf.ready();
  const faceapi = req('@vladmandic/face-api/dist/face-api.node-wasm.js');
  const models = path.join(dir, 'node_modules', '@vladmandic', 'face-api', 'model');
  await faceapi.nets.ssdMobilenetv1.loadFromDisk(models);
  await faceapi.nets.faceLandmark68Net.loadFromDisk(models);
  await faceapi.nets.faceRecognitionNet.loadFromDisk(models);
  const opts = new faceapi.SsdMobilenetv1Options({ minConfidence: 0.5, maxResults: 100 });
  for (let i = 0; i < args._.length; i++) {
    const file = args._[i];
    let faces = 0;
    const dec = [];
    const fn = async () => {
      const t0 = process.hrtime.bigint();
      const img = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
      dec.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
      const r = await faceapi.detectAllFaces(t, opts).withFaceLandmarks().withFaceDescriptors();
      t.dispose();
      faces = r.length;
    };
    const r = await C.timeIt(fn, warmup, runs);
    const d = dec.slice(warmup).sort((a, b) => a - b);
    r.decode_ms = Math.round(d[d.length >> 1] * 1000) / 1000;
    C.emit({ peer: 'face-api', version: faceapi.version, index: i, file: path.basename(file), faces, ...r });
  }
})().catch((e) => C.die(e.stack || e.message || String(e)));
