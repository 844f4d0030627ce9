// Parses a CMAF track (an init segment followed by media segments) with mp4box.js and prints,
// as one JSON line, what mp4box saw: brands, tracks, every sample's timing and flags summed up,
// each file's top-level boxes, and any error mp4box logged.
//
//   node mp4check.mjs init.mp4 seg1.m4s [seg2.m4s ...]
import { readFileSync } from 'node:fs';
import { createFile, Log, MP4BoxBuffer } from 'mp4box';

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node mp4check.mjs init.mp4 [media.m4s ...]');
  process.exit(2);
}

const errors = [];
// mp4box reports parse problems through Log.error (and keeps going): collect them.
Log.error = (m, msg) => errors.push(`${m}: ${msg}`);

/** Top-level boxes of one file: [{type, size}] and whether they tile it exactly. */
function topLevel(buf) {
  const boxes = [];
  let at = 0;
  while (at + 8 <= buf.length) {
    let size = buf.readUInt32BE(at);
    const type = buf.toString('latin1', at + 4, at + 8);
    if (size === 1) size = Number(buf.readBigUInt64BE(at + 8));
    if (size === 0) size = buf.length - at;
    if (size < 8) break;
    boxes.push({ type, size });
    at += size;
  }
  return { boxes, tiles: at === buf.length };
}

const mp4 = createFile();
let info = null;
mp4.onError = (m, msg) => errors.push(`${m}: ${msg}`);
mp4.onReady = (i) => {
  info = i;
  for (const t of i.tracks) mp4.setExtractionOptions(t.id, null, { nbSamples: 1e9 });
  mp4.start();
};
const samples = new Map();
mp4.onSamples = (id, _user, list) => {
  const s = samples.get(id) ?? [];
  for (const x of list) s.push({ dts: x.dts, cts: x.cts, duration: x.duration, size: x.size, sync: x.is_sync, depends_on: x.depends_on });
  samples.set(id, s);
  mp4.releaseUsedSamples(id, s.length);
};

const perFile = [];
let offset = 0;
for (const f of files) {
  const data = readFileSync(f);
  perFile.push({ file: f, bytes: data.length, ...topLevel(data) });
  const ab = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
  mp4.appendBuffer(MP4BoxBuffer.fromArrayBuffer(ab, offset));
  offset += data.length;
}
mp4.flush();

const tracks = (info?.tracks ?? []).map((t) => {
  const s = samples.get(t.id) ?? [];
  let contiguous = true;
  for (let i = 1; i < s.length; i++) if (s[i].dts !== s[i - 1].dts + s[i - 1].duration) contiguous = false;
  return {
    id: t.id,
    codec: t.codec,
    timescale: t.timescale,
    width: t.video?.width ?? t.track_width ?? 0,
    height: t.video?.height ?? t.track_height ?? 0,
    sample_rate: t.audio?.sample_rate ?? 0,
    channels: t.audio?.channel_count ?? 0,
    samples: s.length,
    first_dts: s.length ? s[0].dts : null,
    first_cts: s.length ? Math.min(...s.map((x) => x.cts)) : null,
    total_duration: s.reduce((n, x) => n + x.duration, 0),
    sync_samples: s.filter((x) => x.sync).length,
    first_is_sync: s.length ? s[0].sync : false,
    bytes: s.reduce((n, x) => n + x.size, 0),
    contiguous,
  };
});
console.log(JSON.stringify({
  ready: info !== null,
  brands: info?.brands ?? [],
  fragmented: info?.isFragmented ?? false,
  mime: info?.mime ?? null,
  tracks,
  files: perFile,
  errors,
}));
