#!/usr/bin/env node
// Plays a live manifest in a real browser and prints what a viewer would have seen.
//
//   node tests/browser/play.mjs <hls|dash|shaka> <manifest-url> <seconds>
//
// Serves a tiny page (and the player library from node_modules) on a loopback port, launches
// Debian's headless chromium through playwright-core, lets the player play the manifest for
// <seconds> and prints ONE JSON line on stdout:
//   {player, url, seconds_watched, start_time, end_time, advanced, stalls, longest_stall_s,
//    errors:[...], fatal, frames_decoded, frames_dropped, buffered_end, ...}
// `advanced` is media time actually played (currentTime moving at about the wall clock's
// speed between timeupdate events; seeks and jumps over holes are not played), so a seek to the live
// edge does not count as playback. A stall is a `waiting` after the first `playing`, until the
// next `playing` (one still open at the end counts up to the end). `latency_median_s` is the
// median of the player's own live-latency figure (dash.js getCurrentLiveLatency, hls.js
// latency, Shaka getStats().liveLatency), sampled every second once playback started.
// PLAY_LOW_LATENCY=1 turns the players' low-latency modes on (hls.js lowLatencyMode with
// catch-up, Shaka streaming.lowLatencyMode with liveSync catch-up; dash.js takes it from the MPD).
// Player errors go in the JSON; the exit status is non-zero only when the harness itself failed
// (bad arguments, no chromium, the page or the player library did not load).
// PLAY_TEXT=1 turns the first subtitle track on (hls.js subtitleTrack 0, Shaka's first text
// track, visible) and samples, every 250 ms, the playhead, the player's program date for it
// (hls.js playingDate, Shaka getPlayheadTimeAsDate) and the text of the cues active then:
// `text_samples` [[currentTime, dateMs|null, [text…]]…] and `text_tracks`.
// Diagnostics go to stderr; PLAY_DEBUG=1 adds a per-second timeline and every HTTP request.

import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const DEBUG = process.env.PLAY_DEBUG === '1';
const LOW_LATENCY = process.env.PLAY_LOW_LATENCY === '1';
// ClearKey keys for encrypted content, as JSON {"<kid hex>": "<key hex>"} (dash.js, Shaka).
const CLEARKEYS = process.env.PLAY_CLEARKEYS || '';
const TEXT = process.env.PLAY_TEXT === '1';

const LIBS = {
  hls: 'node_modules/hls.js/dist/hls.min.js',
  dash: 'node_modules/dashjs/dist/modern/umd/dash.all.min.js',
  shaka: 'node_modules/shaka-player/dist/shaka-player.compiled.js',
};

function usage(msg) {
  process.stderr.write(`play.mjs: ${msg}\nusage: node play.mjs <hls|dash|shaka> <manifest-url> <seconds>\n`);
  process.exit(2);
}

function log(msg) {
  process.stderr.write(`[play.mjs ${new Date().toISOString()}] ${msg}\n`);
}

const [player, url, secondsArg] = process.argv.slice(2);
if (!LIBS[player]) usage(`unknown player ${JSON.stringify(player)}`);
if (!url || !/^https?:\/\//.test(url)) usage(`not a URL: ${JSON.stringify(url)}`);
const seconds = Number(secondsArg);
if (!Number.isFinite(seconds) || seconds <= 0 || seconds > 3600) usage(`bad seconds ${JSON.stringify(secondsArg)}`);

// Everything below the watch itself has a deadline: a harness that hangs is a harness failure.
const watchdog = setTimeout(() => {
  log(`harness did not finish within ${seconds + 45} s`);
  process.exit(1);
}, (seconds + 45) * 1000);
watchdog.unref();

// The page: instrumentation first, then the player. Stats live in window.__pb.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>streampack play</title></head>
<body>
<video id="v" muted playsinline width="640" height="360"></video>
<script>
(() => {
  const v = document.getElementById('v');
  const pb = window.__pb = {
    started: false, firstPlayingAt: null, startTime: null, stalls: 0, longestStall: 0,
    stallSince: null, stallLog: [], errors: [], fatal: false, events: [], samples: [],
    latencies: [],
  };
  const latency = () => {
    const p = window.__player;
    if (!p) return null;
    try {
      if (p.getCurrentLiveLatency) return p.getCurrentLiveLatency();
      if (p.getStats) return p.getStats().liveLatency;
      if ('latency' in p) return p.latency;
    } catch (e) { return null; }
    return null;
  };
  const now = () => performance.now() / 1000;
  pb.err = (msg, fatal) => {
    if (pb.errors.length < 50) pb.errors.push(msg);
    if (fatal) pb.fatal = true;
  };
  v.addEventListener('playing', () => {
    const t = now();
    if (!pb.started) {
      pb.started = true; pb.firstPlayingAt = t; pb.startTime = v.currentTime;
    } else if (pb.stallSince !== null) {
      const d = t - pb.stallSince;
      pb.longestStall = Math.max(pb.longestStall, d);
      pb.stallLog.push({ at: +v.currentTime.toFixed(3), seconds: +d.toFixed(3) });
    }
    pb.stallSince = null;
  });
  v.addEventListener('waiting', () => {
    if (pb.started && pb.stallSince === null) { pb.stalls++; pb.stallSince = now(); }
  });
  for (const e of ['loadedmetadata', 'canplay', 'playing', 'waiting', 'seeking', 'seeked', 'ended', 'pause'])
    v.addEventListener(e, () => { if (pb.events.length < 200) pb.events.push([+now().toFixed(2), e, +v.currentTime.toFixed(3)]); });
  v.addEventListener('error', () => {
    const e = v.error;
    pb.err('video element error: ' + (e ? e.code + ' ' + e.message : 'unknown'), true);
  });
  // Media time played at (about) the speed of the wall clock, from one timeupdate to the
  // next: a seek or a jump over a hole moves currentTime without playing it, and is not
  // counted (video.played can count such moves as played).
  let lastTime = null;
  let lastWall = null;
  pb.naturalPlayed = 0;
  v.addEventListener('timeupdate', () => {
    const t = v.currentTime;
    const w = now();
    if (lastTime !== null && !v.seeking && !v.paused) {
      const d = t - lastTime;
      if (d > 0 && d <= (w - lastWall) * 1.5 + 0.25) pb.naturalPlayed += d;
    }
    lastTime = t;
    lastWall = w;
  });
  v.addEventListener('seeking', () => { lastTime = null; });
  const bufferedEnd = () => v.buffered.length ? v.buffered.end(v.buffered.length - 1) : 0;
  setInterval(() => {
    if (pb.samples.length < 600) pb.samples.push([+now().toFixed(2), +v.currentTime.toFixed(3), +bufferedEnd().toFixed(3), v.readyState]);
    const l = latency();
    if (pb.started && typeof l === 'number' && Number.isFinite(l) && l > 0 && pb.latencies.length < 600)
      pb.latencies.push(+l.toFixed(3));
  }, 1000);
  // Subtitles: the cues active at the playhead, with the player's program date for it.
  pb.textSamples = [];
  const dateOf = () => {
    const p = window.__player;
    try {
      if (p && 'playingDate' in p && p.playingDate) return p.playingDate.getTime();
      if (p && p.getPlayheadTimeAsDate) { const d = p.getPlayheadTimeAsDate(); return d ? d.getTime() : null; }
    } catch (e) { return null; }
    return null;
  };
  pb.sampleText = () => {
    const texts = [];
    for (const t of v.textTracks) {
      if (t.mode === 'disabled') t.mode = 'hidden';
      for (const c of (t.activeCues || [])) texts.push(c.text);
    }
    if (pb.textSamples.length < 400) pb.textSamples.push([+v.currentTime.toFixed(3), dateOf(), texts]);
  };
  pb.textTracks = () => [...v.textTracks].map((t) => ({ kind: t.kind, label: t.label, language: t.language, mode: t.mode, cues: t.cues ? t.cues.length : null }));
  pb.result = () => {
    const t = now();
    let longest = pb.longestStall;
    if (pb.stallSince !== null) longest = Math.max(longest, t - pb.stallSince);
    let playedRanges = 0;
    for (let i = 0; i < v.played.length; i++) playedRanges += v.played.end(i) - v.played.start(i);
    const played = pb.naturalPlayed;
    const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : null;
    const sorted = [...pb.latencies].sort((a, b) => a - b);
    const median = sorted.length ? sorted[Math.floor(sorted.length / 2)] : null;
    // Shaka counts the holes in the buffer it jumped over (frozen video a stall count misses).
    let gapsJumped = null;
    try {
      const p = window.__player;
      if (p && p.getStats && 'gapsJumped' in p.getStats()) gapsJumped = p.getStats().gapsJumped;
    } catch (e) { gapsJumped = null; }
    return {
      latency_median_s: median, latencies: pb.latencies, gaps_jumped: gapsJumped,
      start_time: pb.startTime, end_time: v.currentTime, advanced: played,
      played_ranges_s: playedRanges,
      stalls: pb.stalls, longest_stall_s: longest, errors: pb.errors, fatal: pb.fatal,
      frames_decoded: q ? q.totalVideoFrames : 0, frames_dropped: q ? q.droppedVideoFrames : 0,
      buffered_end: bufferedEnd(), stall_log: pb.stallLog,
      time_to_first_frame_s: pb.firstPlayingAt, events: pb.events, samples: pb.samples,
    };
  };
})();
</script>
<script src="/lib/player.js"></script>
<script>
(async () => {
  const v = document.getElementById('v');
  const pb = window.__pb;
  const q = new URLSearchParams(location.search);
  const kind = q.get('player'), url = q.get('url');
  const clearKeys = q.get('ck') ? JSON.parse(q.get('ck')) : null;
  const b64url = (hex) => btoa(String.fromCharCode(...hex.match(/../g).map((h) => parseInt(h, 16))))
    .split('+').join('-').split('/').join('_').replace(/=+$/, '');
  try {
    if (kind === 'hls') {
      if (!window.Hls || !Hls.isSupported()) throw new Error('hls.js missing or MSE unsupported');
      // Low-latency mode as LL players run it: blocking reloads and parts, and catching up
      // (up to 1.5x, hls.js's own suggestion) when behind its target latency.
      const ll = q.get('ll') === '1';
      const text = q.get('text') === '1';
      const hls = new Hls({ debug: false, ...(ll ? { lowLatencyMode: true, maxLiveSyncPlaybackRate: 1.5 } : {}),
        ...(text ? { subtitleDisplay: true, renderTextTracksNatively: true } : {}) });
      hls.on(Hls.Events.ERROR, (_, d) => {
        const u = (d.frag && d.frag.url) || (d.context && d.context.url) || (d.url) || '';
        const code = d.response && d.response.code !== undefined ? ' HTTP ' + d.response.code : '';
        pb.err('hls.js ' + d.type + '/' + d.details + (d.fatal ? ' (fatal)' : '') + code + (u ? ' ' + u : '') +
          (d.reason ? ' reason: ' + d.reason : '') + (d.error && d.error.message ? ' error: ' + d.error.message : ''), d.fatal);
      });
      hls.on(Hls.Events.MANIFEST_PARSED, () => {
        if (text) hls.subtitleTrack = 0;
        v.play().catch((e) => pb.err('video.play(): ' + e, false));
      });
      hls.loadSource(url);
      hls.attachMedia(v);
      window.__player = hls;
    } else if (kind === 'dash') {
      if (!window.dashjs) throw new Error('dash.js missing');
      const p = dashjs.MediaPlayer().create();
      // dash.js reports what it cannot recover from through its error event.
      p.on(dashjs.MediaPlayer.events.ERROR, (e) => {
        const er = e.error || {};
        pb.err('dash.js error ' + (er.code !== undefined ? er.code : '') + ' ' + (er.message || JSON.stringify(er)), true);
      });
      p.on(dashjs.MediaPlayer.events.PLAYBACK_ERROR, (e) => pb.err('dash.js playback error ' + JSON.stringify(e.error || e), false));
      if (clearKeys) {
        const keys = {};
        for (const [kid, key] of Object.entries(clearKeys)) keys[b64url(kid)] = b64url(key);
        p.setProtectionData({ 'org.w3.clearkey': { clearkeys: keys } });
      }
      // autoplay=true: dash.js starts playback itself once it is attached (no early video.play()).
      p.initialize(v, url, true);
      window.__player = p;
    } else if (kind === 'shaka') {
      if (!window.shaka) throw new Error('shaka missing');
      shaka.polyfill.installAll();
      if (!shaka.Player.isBrowserSupported()) throw new Error('shaka: browser not supported');
      const p = new shaka.Player();
      p.addEventListener('error', (ev) => {
        const e = ev.detail || {};
        pb.err('shaka error ' + e.code + ' category ' + e.category + ' severity ' + e.severity +
          (e.data ? ' ' + JSON.stringify(e.data).slice(0, 300) : ''), e.severity === 2);
      });
      await p.attach(v);
      if (clearKeys) p.configure({ drm: { clearKeys } });
      // Low-latency mode as LL deployments run Shaka: parts and blocking reloads, and catching
      // up like hls.js does (up to 1.5x). Shaka measures liveSync latency from its seek range
      // end, which is already PART-HOLD-BACK behind the live edge: it plays at 1x within 0.3 s
      // of that point. Without liveSync it stays where it started: at the segment's first
      // (independent) part, up to a segment further back, or behind by whatever it waited.
      if (q.get('ll') === '1') {
        p.configure({
          // Shaka 5.2.12 in HLS segments mode recomputes timestampOffset on every append against
          // a SourceBuffer value its old-Edge workaround shifted by +0.001 s; float noise then
          // triggers an abort() that makes Chrome drop a part that does not start with a
          // keyframe, up to the next one: a 1.5 s hole in the video (shaka-player#10589, fixed
          // upstream by #10559/#10591, not in 5.2.12). Sequence mode, Shaka's HLS default since
          // 4.0 until recently, skips that recalculation. Drop this with a release that has
          // the fix.
          manifest: { hls: { sequenceMode: true } },
          streaming: {
            lowLatencyMode: true,
            liveSync: { enabled: true, targetLatency: 0.15, targetLatencyTolerance: 0.15, maxPlaybackRate: 1.5 },
          },
        });
      }
      window.__player = p;
      // The harness is set up once the player is attached; load() may retry for a long time
      // and its failure is the player's, reported in the JSON.
      pb.ready = true;
      p.load(url).then(
        () => {
          if (q.get('text') === '1') {
            const tt = p.getTextTracks();
            if (tt.length) p.selectTextTrack(tt[0]);
            // Shaka 5 shows a selected track (setTextTrackVisibility is gone).
            if (p.setTextTrackVisibility) p.setTextTrackVisibility(true);
          }
          return v.play().catch((e) => pb.err('video.play(): ' + e, false));
        },
        (e) => pb.err('shaka load failed: code ' + e.code + ' ' + (e.message || ''), true));
    } else {
      throw new Error('unknown player ' + kind);
    }
    if (q.get('text') === '1') setInterval(pb.sampleText, 250);
    pb.ready = true;
  } catch (e) {
    pb.setupError = String(e && e.stack || e);
  }
})();
</script>
</body></html>`;

function serve() {
  const lib = fs.readFileSync(path.join(here, LIBS[player]));
  const server = http.createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    if (p === '/') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(PAGE);
    } else if (p === '/favicon.ico') {
      res.writeHead(204);
      res.end();
    } else if (p === '/lib/player.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript', 'Cache-Control': 'no-store' });
      res.end(lib);
    } else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('not found\n');
    }
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found (apt-get install chromium)`);
  let chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch (e) {
    throw new Error(`playwright-core not installed (npm ci --prefix tests/browser): ${e.message}`);
  }
  const server = await serve();
  const pagePort = server.address().port;
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-chromium-'));
  let context;
  try {
    // A persistent context is how playwright takes a --user-data-dir: a fresh one per run.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: CHROMIUM,
      headless: true,
      // The TLS tests' origin has a certificate of their own making.
      ignoreHTTPSErrors: true,
      args: [
        '--no-sandbox', '--disable-gpu', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
        '--autoplay-policy=no-user-gesture-required',
      ],
      timeout: 30_000,
    });
    const page = context.pages()[0] || await context.newPage();
    // How the media was fetched ("h2", "http/1.1"), as chromium's network stack reports it
    // (Resource Timing hides it from a cross-origin page): one entry per protocol.
    const origin = new URL(url).origin;
    const protocolsSeen = new Set();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.responseReceived', (e) => {
      if (e.response.url.startsWith(origin)) protocolsSeen.add(e.response.protocol);
    });
    const httpErrors = [];
    let requests = 0;
    page.on('pageerror', (e) => log(`page error: ${e.message}`));
    page.on('console', (m) => { if (DEBUG || m.type() === 'error') log(`console.${m.type()}: ${m.text()}`); });
    page.on('requestfailed', (r) => {
      const f = r.failure();
      if (httpErrors.length < 50) httpErrors.push(`${r.method()} ${r.url()} failed: ${f ? f.errorText : '?'}`);
    });
    page.on('response', (r) => {
      requests++;
      if (DEBUG) log(`${r.status()} ${r.request().method()} ${r.url()}`);
      if (r.status() >= 400 && httpErrors.length < 50) httpErrors.push(`${r.request().method()} ${r.url()} -> ${r.status()}`);
    });

    const pageUrl = `http://127.0.0.1:${pagePort}/?player=${player}&ll=${LOW_LATENCY ? 1 : 0}&text=${TEXT ? 1 : 0}&url=${encodeURIComponent(url)}` +
      (CLEARKEYS ? `&ck=${encodeURIComponent(CLEARKEYS)}` : '');
    await page.goto(pageUrl, { waitUntil: 'load', timeout: 20_000 });
    await page.waitForFunction(() => window.__pb && (window.__pb.ready || window.__pb.setupError), null, { timeout: 20_000 });
    const setupError = await page.evaluate(() => window.__pb.setupError);
    if (setupError) throw new Error(`player setup failed: ${setupError}`);

    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const watched = (Date.now() - t0) / 1000;
    const res = await page.evaluate(() => window.__pb.result());
    const text = TEXT ? await page.evaluate(() => ({ samples: window.__pb.textSamples, tracks: window.__pb.textTracks() })) : null;
    const protocols = [...protocolsSeen];
    const out = {
      protocols,
      player, url, seconds_watched: watched,
      start_time: res.start_time, end_time: res.end_time, advanced: res.advanced, played_ranges_s: res.played_ranges_s,
      stalls: res.stalls, longest_stall_s: res.longest_stall_s, errors: res.errors, fatal: res.fatal,
      frames_decoded: res.frames_decoded, frames_dropped: res.frames_dropped, buffered_end: res.buffered_end,
      stall_log: res.stall_log, time_to_first_frame_s: res.time_to_first_frame_s, http_errors: httpErrors,
      requests, latency_median_s: res.latency_median_s, latencies: res.latencies,
      gaps_jumped: res.gaps_jumped,
      ...(text ? { text_samples: text.samples, text_tracks: text.tracks } : {}),
    };
    if (DEBUG) {
      log(`events: ${JSON.stringify(res.events)}`);
      log(`samples [t, currentTime, bufferedEnd, readyState]: ${JSON.stringify(res.samples)}`);
    }
    process.stdout.write(JSON.stringify(out) + '\n');
  } finally {
    if (context) await context.close().catch((e) => log(`closing chromium: ${e.message}`));
    server.close();
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    log(`harness failure: ${e && e.stack || e}`);
    process.exit(1);
  },
);
