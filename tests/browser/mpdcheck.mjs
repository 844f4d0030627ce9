#!/usr/bin/env node
// Fetches an MPD and parses it with npm `mpd-parser` (the parser of video.js / VHS), the way a
// player would, and prints ONE JSON line on stdout:
//   {url, status, content_type, end_list, minimum_update_period, suggested_presentation_delay,
//    utc_timing, video:[{name, bandwidth, codecs, width, height, segments, urls}], audio:[...],
//    segment_urls:[every init and media segment URL, resolved, deduplicated]}
//
//   node tests/browser/mpdcheck.mjs <mpd-url>
//
// Exits 1 (with the reason on stderr) when the fetch fails, the parser throws, or the MPD
// lists no representation; 2 on bad arguments.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const mpdParser = require('mpd-parser');

const url = process.argv[2];
if (!url || process.argv.length !== 3) {
  process.stderr.write('usage: node mpdcheck.mjs <mpd-url>\n');
  process.exit(2);
}

function fail(msg) {
  process.stderr.write(`mpdcheck: ${msg}\n`);
  process.exit(1);
}

let res;
let text;
try {
  res = await fetch(url);
  text = await res.text();
} catch (e) {
  fail(`fetching ${url}: ${e}`);
}
if (res.status !== 200) fail(`${url} answered ${res.status}: ${text}`);

let parsed;
let utc;
try {
  // Segment lists of $Number$ templates without a timeline depend on the wall clock.
  parsed = mpdParser.parse(text, { manifestUri: url, NOW: Date.now(), clientOffset: 0 });
  utc = mpdParser.parseUTCTiming(text);
} catch (e) {
  fail(`mpd-parser rejected the MPD: ${e && e.stack ? e.stack : e}\n${text}`);
}

const urls = new Set();
function describe(p) {
  const mine = new Set();
  for (const s of p.segments || []) {
    if (s.map && s.map.resolvedUri) mine.add(s.map.resolvedUri);
    mine.add(s.resolvedUri);
  }
  for (const u of mine) urls.add(u);
  const a = p.attributes || {};
  return {
    name: a.NAME,
    bandwidth: a.BANDWIDTH,
    codecs: a.CODECS,
    width: a.RESOLUTION ? a.RESOLUTION.width : null,
    height: a.RESOLUTION ? a.RESOLUTION.height : null,
    segments: (p.segments || []).length,
    urls: [...mine],
  };
}

const video = (parsed.playlists || []).map(describe);
const audio = [];
for (const group of Object.values((parsed.mediaGroups || {}).AUDIO || {})) {
  for (const rendition of Object.values(group)) {
    for (const p of rendition.playlists || []) audio.push(describe(p));
  }
}
if (video.length + audio.length === 0) fail(`no representation in the MPD:\n${text}`);

process.stdout.write(
  JSON.stringify({
    url,
    status: res.status,
    content_type: res.headers.get('content-type'),
    // mpd-parser marks each playlist ended when the MPD is static.
    end_list: (parsed.playlists || []).every((p) => p.endList),
    minimum_update_period: parsed.minimumUpdatePeriod,
    suggested_presentation_delay: parsed.suggestedPresentationDelay,
    utc_timing: utc,
    video,
    audio,
    segment_urls: [...urls],
  }) + '\n',
);
