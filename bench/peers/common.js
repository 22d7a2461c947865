// Shared helpers for the peer benchmark scripts (ort_bench.js, tflite_bench.js, tfjs_bench.js).
// The peers' node_modules live in $FR_PEERS_DIR/<peer> (default <repo>/.cache/peers), set up by bench/peers/setup.
// stdout carries only the JSON result lines: console.log/info/warn are sent to stderr so that chatty runtimes
// (TF.js prints a banner) cannot corrupt the pipe the C benchmark reads.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const { createRequire } = require('module');

const REPO = path.resolve(__dirname, '..', '..');
const PEERS_DIR = process.env.FR_PEERS_DIR || path.join(REPO, '.cache', 'peers');

const toStderr = (...a) => process.stderr.write(`${a.map(String).join(' ')}\n`);
console.log = toStderr;
console.info = toStderr;
console.warn = toStderr;

function die(msg) { process.stderr.write(`${path.basename(process.argv[1])}: ${msg}\n`); process.exit(1); }

// require() rooted at one peer's folder (its node_modules), failing with a hint when setup has not run.
function peerRequire(peer) {
  const dir = path.join(PEERS_DIR, peer);
  if (!fs.existsSync(path.join(dir, 'node_modules'))) die(`${dir}/node_modules missing: run bench/peers/setup`);
  return { dir, req: createRequire(path.join(dir, 'package.json')) };
}

// argv -> { _: [positional...], key: value }; an option whose default is an array may repeat (values collected).
function parseArgs(argv, defaults, usage) {
  const out = { _: [], ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { process.stderr.write(usage); process.exit(0); }
    if (!a.startsWith('--')) { out._.push(a); continue; }
    const key = a.slice(2);
    if (!(key in defaults)) die(`unknown option ${a}\n${usage}`);
    if (i + 1 >= argv.length) die(`option ${a} needs a value`);
    if (Array.isArray(out[key])) out[key] = [...out[key], argv[++i]]; else out[key] = argv[++i];
  }
  return out;
}

const parseList = (s, what) => {
  const v = String(s).split(',').map(Number);
  if (v.some((x) => !Number.isInteger(x) || x <= 0)) die(`bad ${what} '${s}' (want positive integers, comma-separated)`);
  return v;
};

const numel = (shape) => shape.reduce((a, b) => a * b, 1);

// Input data: a raw little-endian float32 file of the right size, or uniform random in [-1, 1] (fixed seed).
function inputData(shape, file) {
  const n = numel(shape);
  if (file) {
    const b = fs.readFileSync(file);
    if (b.length !== n * 4) die(`${file}: ${b.length} bytes, shape [${shape}] needs ${n * 4}`);
    const a = new Float32Array(n);
    for (let i = 0; i < n; i++) a[i] = b.readFloatLE(4 * i);
    return a;
  }
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1103515245) + 12345) >>> 0; a[i] = (s / 4294967296) * 2 - 1; }
  return a;
}

function median(v) { const s = [...v].sort((x, y) => x - y); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; }

// Wall and process-CPU time per call of fn (sync or async), after `warmup` untimed calls.
async function timeIt(fn, warmup, runs) {
  for (let i = 0; i < warmup; i++) await fn();
  const wall = []; const cpu = [];
  for (let i = 0; i < runs; i++) {
    const c0 = process.cpuUsage(); const t0 = process.hrtime.bigint();
    await fn();
    wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
    const c = process.cpuUsage(c0); cpu.push((c.user + c.system) / 1000);
  }
  const r3 = (x) => Math.round(x * 1000) / 1000;
  return { runs, warmup, median_ms: r3(median(wall)), min_ms: r3(Math.min(...wall)), cpu_median_ms: r3(median(cpu)) };
}

function emit(obj) { process.stdout.write(`${JSON.stringify({ ...obj, load1: Math.round(os.loadavg()[0] * 100) / 100 })}\n`); }

module.exports = { REPO, PEERS_DIR, die, peerRequire, parseArgs, parseList, numel, inputData, timeIt, emit };
