// Drives every call of the official CompreFace JS SDK (@exadel/compreface-js-sdk
// 1.0) against a running `facerec serve`, asserting the results. Run by
// test_compreface_sdk.sh with:
//   SDK_INDEX  path of the SDK's index.js     FR_URL    http://127.0.0.1   FR_PORT
//   ADMIN_KEY / RECOGNIZE_KEY                 IMAGES    face-api.js examples/images dir
//
// SDK facts this relies on (read from its source):
// - image arguments are relative paths starting with "." (else they are taken as
//   URLs or blobs), or base64 strings; so we chdir into the images directory;
// - faceCollection / subjects functions append to a URL kept in a closure, so each
//   call uses a fresh getFaceCollection() / getSubjects() object;
// - option objects without `limit` make URLs like "?det_prob_threshold=0.5?face_plugins=x",
//   which the server tolerates.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';

const { CompreFace } = await import(process.env.SDK_INDEX);
const url = process.env.FR_URL, port = process.env.FR_PORT;
const adminKey = process.env.ADMIN_KEY, recognizeKey = process.env.RECOGNIZE_KEY;
process.chdir(process.env.IMAGES);

const watchdog = setTimeout(() => { console.error('FAIL: timed out'); process.exit(1); }, 240000);
const realLog = console.log;
console.log = () => {}; // the SDK logs the URL and key on subjects.list()
const say = (...a) => realLog('sdk:', ...a);

// A 64x48 mid-grey PNG (no face), built here so the test needs no extra file.
function greyPng() {
  const crcTable = Array.from({ length: 256 }, (_, n) => {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    return c >>> 0;
  });
  const crc = (buf) => {
    let c = 0xffffffff;
    for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  };
  const chunk = (type, data) => {
    const len = Buffer.alloc(4); len.writeUInt32BE(data.length);
    const td = Buffer.concat([Buffer.from(type), data]);
    const c = Buffer.alloc(4); c.writeUInt32BE(crc(td));
    return Buffer.concat([len, td, c]);
  };
  const w = 64, h = 48;
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0); ihdr.writeUInt32BE(h, 4); ihdr[8] = 8; ihdr[9] = 0;
  const raw = Buffer.alloc((w + 1) * h, 128);
  for (let y = 0; y < h; y++) raw[y * (w + 1)] = 0;
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr), chunk('IDAT', zlib.deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

async function rejects(promise, status, code) {
  try {
    await promise;
  } catch (e) {
    assert.equal(e.response?.status, status, `HTTP status ${e.response?.status} ${JSON.stringify(e.response?.data)}`);
    if (code !== undefined) assert.equal(e.response.data.code, code, JSON.stringify(e.response.data));
    return e.response.data;
  }
  assert.fail(`expected HTTP ${status}`);
}

const state = await (await fetch(`${url}:${port}/recognition`, { headers: { 'x-api-key': adminKey } })).json();
const threshold = state.thresholds.similarity;
say('threshold', threshold);

const cf = new CompreFace(url, port);
const rec = cf.initFaceRecognitionService(adminKey);
const faces = () => rec.getFaceCollection();
const subjects = () => rec.getSubjects();

// --- subjects: add, list
assert.deepEqual(await subjects().add('amy'), { subject: 'amy' });
await rejects(subjects().add('amy'), 400, 43);
assert.deepEqual(await subjects().list(), { subjects: ['amy'] });

// --- faceCollection.add: paths and base64
const ids = {};
for (const [file, name] of [['./amy/amy1.png', 'amy'], ['./amy/amy2.png', 'amy'],
  ['./sheldon/sheldon1.png', 'sheldon'], ['./leonard/leonard1.png', 'leonard'],
  ['./howard/howard1.png', 'howard']]) {
  const r = await faces().add(file, name);
  assert.equal(r.subject, name);
  assert.match(r.image_id, /^[0-9a-f-]{36}$/);
  ids[file] = r.image_id;
}
const pennyB64 = fs.readFileSync('./penny/penny1.png').toString('base64');
const pr = await faces().add(pennyB64, 'penny', { det_prob_threshold: 0.5 });
// the SDK appends "?det_prob_threshold=0.5" after "?subject=penny": tolerated
assert.equal(pr.subject, 'penny');
ids.penny = pr.image_id;
say('added 6 faces');

// --- faceCollection.list
const list = await faces().list();
assert.equal(list.total_elements, 6);
assert.equal(list.faces.length, 6);
assert.equal(list.page_number, 0);
assert.equal(list.page_size, 20);
assert.equal(list.total_pages, 1);
assert.deepEqual(new Set(list.faces.map((f) => f.subject)),
  new Set(['amy', 'sheldon', 'leonard', 'howard', 'penny']));

// --- recognize: every known person, with plugins and status
for (const [file, name] of [['./amy/amy3.png', 'amy'], ['./sheldon/sheldon2.png', 'sheldon'],
  ['./leonard/leonard2.png', 'leonard'], ['./howard/howard2.png', 'howard'], ['./penny/penny2.png', 'penny']]) {
  const r = await rec.recognize(file, { limit: 0, prediction_count: 2, face_plugins: 'landmarks,calculator', status: true });
  assert.equal(r.result.length, 1, JSON.stringify(r));
  const f = r.result[0];
  assert.equal(f.subjects[0].subject, name, `${file}: ${JSON.stringify(f.subjects)}`);
  assert.ok(f.subjects[0].similarity >= threshold, `${file}: ${f.subjects[0].similarity}`);
  assert.equal(f.subjects.length, 2);
  assert.ok(f.subjects[0].similarity >= f.subjects[1].similarity);
  assert.equal(f.landmarks.length, 5);
  assert.ok(f.embedding.length >= 128);
  for (const k of ['probability', 'x_min', 'y_min', 'x_max', 'y_max']) assert.equal(typeof f.box[k], 'number');
  assert.ok(f.execution_time.detector >= 0);
  assert.ok(r.plugins_versions.calculator);
}
const group = await rec.recognize('./bbt1.jpg', {});
assert.equal(group.result.length, 4);
for (const f of group.result) assert.equal(f.subjects.length, 1);
const unknownB64 = fs.readFileSync('./raj/raj1.png').toString('base64');
const raj = await rec.recognize(unknownB64, { prediction_count: 1 });
assert.ok(raj.result[0].subjects[0].similarity < threshold, 'raj is not enrolled');
await rejects(rec.recognize(greyPng().toString('base64'), {}), 400, 28);
say('recognize ok');

// --- faceCollection.verify
const v = await faces().verify('./amy/amy4.png', ids['./amy/amy1.png'], { limit: 0 });
assert.equal(v.result[0].subject, 'amy');
assert.ok(v.result[0].similarity >= threshold, JSON.stringify(v));
const v2 = await faces().verify('./sheldon/sheldon3.png', ids['./amy/amy1.png'], {});
assert.ok(v2.result[0].similarity < threshold, JSON.stringify(v2));
await rejects(faces().verify('./amy/amy4.png', '00000000-0000-4000-8000-000000000000', {}), 404, 44);

// --- subjects.rename, then recognition uses the new name
assert.deepEqual(await subjects().rename('sheldon', 'Sheldon Cooper'), { updated: true });
const sc = await rec.recognize('./sheldon/sheldon4.png', {});
assert.equal(sc.result[0].subjects[0].subject, 'Sheldon Cooper');
await rejects(subjects().rename('nobody', 'x'), 404, 42);
// onto an existing subject: merged, as CompreFace documents (the old one's faces move, it is gone)
assert.deepEqual(await subjects().add('sheldon-extra'), { subject: 'sheldon-extra' });
assert.deepEqual(await subjects().rename('sheldon-extra', 'Sheldon Cooper'), { updated: true });
assert.ok(!(await subjects().list()).subjects.includes('sheldon-extra'));
assert.equal((await rec.recognize('./sheldon/sheldon4.png', {})).result[0].subjects[0].subject, 'Sheldon Cooper');

// --- faceCollection.delete (one), delete_multiple_images, delete_all_subject
const d1 = await faces().delete(ids['./amy/amy2.png']);
assert.deepEqual(d1, { image_id: ids['./amy/amy2.png'], subject: 'amy' });
await rejects(faces().delete(ids['./amy/amy2.png']), 404, 44);
const dm = await faces().delete_multiple_images([ids['./amy/amy1.png'], ids['./leonard/leonard1.png'],
  '00000000-0000-4000-8000-000000000000']);
assert.equal(dm.length, 2);
assert.deepEqual(new Set(dm.map((x) => x.subject)), new Set(['amy', 'leonard']));
assert.deepEqual(await faces().delete_all_subject('Sheldon Cooper'), { deleted: 1 });
assert.equal((await faces().list()).total_elements, 2); // howard, penny

// --- subjects.delete, faceCollection.delete_all, subjects.deleteAll
assert.deepEqual(await subjects().delete('howard'), { subject: 'howard' });
await rejects(subjects().delete('howard'), 404, 42);
assert.deepEqual(await faces().delete_all(), { deleted: 1 }); // penny
assert.equal((await faces().list()).total_elements, 0);
await subjects().add('x1');
await subjects().add('x2');
const all = await subjects().deleteAll();
assert.ok(all.deleted >= 2, JSON.stringify(all));
assert.deepEqual(await subjects().list(), { subjects: [] });
say('face collection and subjects ok');

// --- verification service (recognize-role key): paths and base64
const ver = cf.initFaceVerificationService(recognizeKey);
const vr = await ver.verify('./amy/amy1.png', './amy/amy5.png', { limit: 0 });
assert.ok(vr.result[0].source_image_face.box);
assert.equal(vr.result[0].face_matches.length, 1);
assert.ok(vr.result[0].face_matches[0].similarity >= threshold, JSON.stringify(vr));
const vb = await ver.verify(fs.readFileSync('./amy/amy1.png').toString('base64'),
  fs.readFileSync('./raj/raj2.png').toString('base64'), { limit: 0 });
assert.ok(vb.result[0].face_matches[0].similarity < threshold, JSON.stringify(vb));
const vg = await ver.verify('./penny/penny3.png', './bbt1.jpg', { limit: 0, face_plugins: 'landmarks' });
assert.equal(vg.result[0].face_matches.length, 4);
assert.equal(vg.result[0].face_matches[0].landmarks.length, 5);
say('verification ok');

// --- detection service
const det = cf.initFaceDetectionService(recognizeKey);
const dr = await det.detect('./bbt1.jpg', { limit: 0, face_plugins: 'landmarks', status: true });
assert.equal(dr.result.length, 4);
for (const f of dr.result) { assert.equal(f.landmarks.length, 5); assert.ok(f.box.probability > 0.5); }
const d2 = await det.detect('./bbt1.jpg', { limit: 2 });
assert.equal(d2.result.length, 2);
const d3 = await det.detect('./bbt1.jpg', { det_prob_threshold: 0.5, face_plugins: 'landmarks' }); // '?' bug URL
assert.equal(d3.result.length, 4);
assert.equal(d3.result[0].landmarks.length, 5);
await rejects(det.detect(greyPng().toString('base64'), {}), 400, 28);
say('detection ok');

// --- roles: a recognize key may not manage the collection; a bad key is refused
const recOnly = cf.initFaceRecognitionService(recognizeKey);
await rejects(recOnly.getFaceCollection().list(), 403);
await rejects(cf.initFaceRecognitionService('wrong-key').getSubjects().list(), 401);
const r2 = await recOnly.recognize('./amy/amy1.png', {}); // recognize keys may recognize
assert.equal(r2.result.length, 1);

clearTimeout(watchdog);
realLog('sdk: all SDK calls passed');
