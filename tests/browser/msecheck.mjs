// Feeds CMAF tracks (init + media segments, one SourceBuffer per track) to Media Source
// Extensions in headless chromium, plays them to the end and prints, as one JSON line, what the
// browser did: buffered ranges per track, whether playback ended, frames shown and dropped,
// and every error.
//
//   node msecheck.mjs '[{"mime":"video/mp4; codecs=\"avc1.64001e\"","files":["init.mp4","1.m4s"]}, …]'
import { readFileSync } from 'node:fs';
import { chromium } from 'playwright-core';

const tracks = JSON.parse(process.argv[2]).map((t) => ({
  mime: t.mime,
  files: t.files.map((f) => readFileSync(f).toString('base64')),
}));
const browser = await chromium.launch({
  executablePath: '/usr/bin/chromium',
  headless: true,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--autoplay-policy=no-user-gesture-required'],
});
try {
  const page = await browser.newPage();
  await page.setContent('<video id=v muted></video>');
  const result = await page.evaluate(async (tracks) => {
    const errors = [];
    const v = document.getElementById('v');
    v.addEventListener('error', () => errors.push(`video error ${v.error?.code}: ${v.error?.message}`));
    const ms = new MediaSource();
    v.src = URL.createObjectURL(ms);
    await new Promise((r) => ms.addEventListener('sourceopen', r, { once: true }));
    const out = { supported: tracks.map((t) => MediaSource.isTypeSupported(t.mime)), buffered: [] };
    // Every SourceBuffer first: chromium refuses new ones once data was appended.
    const sbs = tracks.map((t) => ms.addSourceBuffer(t.mime));
    for (const [i, t] of tracks.entries()) {
      const sb = sbs[i];
      sb.addEventListener('error', () => errors.push(`track ${i}: SourceBuffer error`));
      for (const f of t.files) {
        sb.appendBuffer(Uint8Array.from(atob(f), (c) => c.charCodeAt(0)));
        await new Promise((r) => sb.addEventListener('updateend', r, { once: true }));
      }
      out.buffered.push([...Array(sb.buffered.length).keys()].map((k) => [sb.buffered.start(k), sb.buffered.end(k)]));
    }
    ms.endOfStream();
    const start = Math.max(...out.buffered.map((b) => (b.length ? b[0][0] : 0)));
    v.currentTime = start;
    const ended = new Promise((r) => v.addEventListener('ended', () => r(true), { once: true }));
    await v.play().catch((e) => errors.push(`play: ${e}`));
    out.ended = await Promise.race([ended, new Promise((r) => setTimeout(() => r(false), 30000))]);
    out.start = start;
    out.currentTime = v.currentTime;
    const q = v.getVideoPlaybackQuality();
    out.frames = q.totalVideoFrames;
    out.dropped = q.droppedVideoFrames;
    out.errors = errors;
    return out;
  }, tracks);
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
