// An operator walking streampack's web console in headless Debian chromium (playwright-core),
// finding every control by its role and accessible name as a screen-reader user would.
//
//   node tests/browser/console.mjs <login-url> <setup|finish|daemon-down>
//
// setup:       creates channel "studio", reads its two input URLs, enables authentication on
//              the primary input and rotates it, creates endpoint "web" with an allowlist and an
//              AuthKey. Prints the credentials before and after the rotation.
// finish:      (an encoder now pushes to "studio" with the new credentials) previews "web" until
//              it plays, binds a CDN domain and reads its URL, tries to delete the channel
//              (refused: it has an endpoint), deletes the endpoint, then the channel. Checks the
//              page at phone width too, then signs out. CONSOLE_SCREENSHOT=path saves the
//              console with the preview playing.
// daemon-down: opens the console while the daemon is down, reads the banner, and waits for the
//              page to recover by itself once the daemon is back.
//
// The last stdout line is a JSON object with "ok": true and what was seen; anything else fails.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const CHROMIUM = '/usr/bin/chromium';
const [loginUrl, step] = process.argv.slice(2);
const log = (m) => process.stderr.write(`console.mjs: ${m}\n`);

function fail(msg) {
  throw new Error(msg);
}

async function expectText(locator, re, what, timeout = 15_000) {
  try {
    await locator.filter({ hasText: re }).first().waitFor({ timeout });
  } catch {
    const seen = await locator.allTextContents().catch(() => []);
    fail(`${what}: wanted ${re}, saw ${JSON.stringify(seen)}`);
  }
}

/// Signs in with the printed URL and waits for the channel list.
async function signIn(page) {
  await page.goto(loginUrl);
  if (new URL(page.url()).search.includes('token=')) fail('the token stayed in the address bar');
  await page.getByRole('heading', { level: 2, name: 'Channels' }).waitFor();
}

async function openChannel(page, name) {
  await page.getByRole('table', { name: 'Channels' }).getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { level: 2, name, exact: true }).waitFor();
}

async function confirm(page, action) {
  const dialog = page.getByRole('dialog');
  await dialog.waitFor();
  await dialog.getByRole('button', { name: action, exact: true }).click();
  await dialog.waitFor({ state: 'hidden' });
}

async function value(page, label) {
  return page.getByRole('textbox', { name: label, exact: true }).inputValue();
}

async function setup(page) {
  await signIn(page);
  await page.getByRole('button', { name: 'Create channel' }).click();
  const form = page.getByRole('form', { name: 'Create channel' });
  await form.getByRole('textbox', { name: 'Name', exact: true }).fill('studio');
  await form.getByRole('combobox', { name: 'Input protocol' }).selectOption('hls');
  if (await form.getByRole('spinbutton', { name: 'Max segment duration (s)' }).inputValue() !== '15') {
    fail('Max Segment Duration does not default to 15 s');
  }
  if (await form.getByRole('spinbutton', { name: 'Max playlist duration (s)' }).inputValue() !== '600') {
    fail('Max Playlist Duration does not default to 600 s');
  }
  await form.getByRole('spinbutton', { name: 'Max segment duration (s)' }).fill('6');
  await form.getByRole('button', { name: 'Create', exact: true }).click();
  await page.getByRole('heading', { level: 2, name: 'studio', exact: true }).waitFor();
  const details = await page.locator('dl').first().innerText();
  if (!/HLS|hls/.test(details) || !/6 s/.test(details)) fail(`channel details: ${details}`);

  // Inputs: two URLs; authentication on the primary, then rotated.
  await page.getByRole('tab', { name: 'Inputs' }).click();
  const primaryUrl = await value(page, 'Primary input URL');
  const backupUrl = await value(page, 'Backup input URL');
  if (!primaryUrl.startsWith('http://') || primaryUrl === backupUrl) fail(`input URLs ${primaryUrl} ${backupUrl}`);
  const primary = page.getByRole('region', { name: 'Primary input' });
  await expectText(primary, /Authentication: Off/, 'primary auth before');
  await page.getByRole('button', { name: 'Enable authentication on Primary input' }).click();
  await expectText(primary, /Authentication: On/, 'primary auth after enable');
  await page.getByRole('textbox', { name: 'Primary password', exact: true }).waitFor();
  const user = await value(page, 'Primary username');
  const oldPassword = await value(page, 'Primary password');
  await page.getByRole('button', { name: 'Rotate credentials of Primary input' }).click();
  await confirm(page, 'Rotate');
  let newPassword = oldPassword;
  for (let i = 0; i < 50 && newPassword === oldPassword; i++) {
    await page.waitForTimeout(100);
    newPassword = await value(page, 'Primary password');
  }
  if (newPassword === oldPassword) fail('the password did not change on rotation');
  const newUser = await value(page, 'Primary username');
  await expectText(page.getByRole('region', { name: 'Backup input' }), /Authentication: Off/, 'backup auth');

  // Endpoints: one with an allowlist and an AuthKey.
  await page.getByRole('tab', { name: 'Endpoints' }).click();
  await page.getByRole('button', { name: 'Create endpoint' }).click();
  const ef = page.getByRole('form', { name: 'Create endpoint' });
  await ef.getByRole('textbox', { name: 'Name', exact: true }).fill('web');
  const type = await ef.getByRole('combobox', { name: 'Type' }).inputValue();
  if (type !== 'hls') fail(`endpoint type defaults to ${type}, not the channel's protocol`);
  const offered = await ef.getByRole('combobox', { name: 'Type' }).locator('option').allTextContents();
  if (!offered.some((o) => /cmaf/i.test(o))) fail(`CMAF not offered for an HLS channel: ${offered}`);
  await ef.getByRole('textbox', { name: 'IP allowlist' }).fill('127.0.0.1/32');
  await ef.getByRole('textbox', { name: 'AuthKeys' }).fill('studio-key-1');
  await ef.getByRole('button', { name: 'Create', exact: true }).click();
  const table = page.getByRole('table', { name: 'Endpoints' });
  await table.getByRole('button', { name: 'Preview web' }).waitFor();
  const row = await table.getByRole('row').filter({ hasText: 'web' }).first().innerText();
  const endpointUrl = (row.match(/https?:\/\/\S+/) || [''])[0];
  if (!endpointUrl.includes('/main.m3u8')) fail(`endpoint row ${row}`);
  return { old_user: user, old_password: oldPassword, user: newUser, new_password: newPassword, primary_url: primaryUrl, endpoint_url: endpointUrl };
}

async function finish(page) {
  await signIn(page);
  const list = await page.getByRole('table', { name: 'Channels' }).innerText();
  await openChannel(page, 'studio');
  // Live state refreshes by itself: the primary input delivers.
  await page.getByRole('tab', { name: 'Inputs' }).click();
  await expectText(page.getByRole('region', { name: 'Primary input' }), /Delivering\s*yes/i, 'live state', 30_000);

  await page.getByRole('tab', { name: 'Endpoints' }).click();
  await page.getByRole('button', { name: 'Preview web' }).click();
  const video = page.getByRole('region', { name: 'Preview' }).locator('video');
  let played = 0;
  let state = '';
  for (let i = 0; i < 300 && played < 2; i++) {
    await page.waitForTimeout(100);
    state = await video.getAttribute('data-state');
    if (state === 'error') break;
    played = await video.evaluate((v) => v.currentTime);
  }
  const previewState = await page.getByRole('region', { name: 'Preview' }).getByRole('status').innerText();
  if (played < 2) fail(`the preview did not play (state ${state}, "${previewState}", currentTime ${played})`);
  if (process.env.CONSOLE_SCREENSHOT) {
    await page.waitForTimeout(1500);
    await page.screenshot({ path: process.env.CONSOLE_SCREENSHOT, fullPage: true });
  }
  await page.getByRole('button', { name: 'Stop preview' }).click();
  const row = await page.getByRole('table', { name: 'Endpoints' }).getByRole('row').filter({ hasText: 'web' }).first().innerText();
  const endpointUrl = (row.match(/https?:\/\/\S+/) || [''])[0];

  // Ad breaks: one inserted from the page shows up in the endpoint's playlist.
  await page.getByRole('tab', { name: 'Ad breaks' }).click();
  await page.getByRole('spinbutton', { name: 'Break duration (seconds)' }).fill('20');
  await page.getByRole('button', { name: 'Insert ad break' }).click();
  const spliceStatus = page.locator('.splice-result');
  await expectText(spliceStatus, /^Ad break \d+ at \S+ for 20 s\.$/, 'splice result', 10_000);
  const splice = await spliceStatus.innerText();
  const eventId = splice.match(/^Ad break (\d+)/)[1];
  let marked = '';
  for (let i = 0; i < 100 && !marked.includes(`ID="splice-${eventId}"`); i++) {
    await page.waitForTimeout(200);
    const media = await fetch(endpointUrl, { headers: { [process.env.AUTH_KEY_HEADER || 'X-TENCENT-PACKAGE']: 'studio-key-1' } }).then((r) => r.text());
    marked = media.includes('#EXT-X-DATERANGE') ? media : (await fetchMediaPlaylist(endpointUrl, media));
  }
  if (!marked.includes(`ID="splice-${eventId}"`)) fail(`the ad break is not in the endpoint's playlist:\n${marked}`);

  // CDN: bind a playback domain and read the CDN playback URL.
  await page.getByRole('tab', { name: 'CDN' }).click();
  const bind = page.getByRole('form', { name: 'Bind CDN domain' });
  await bind.getByRole('textbox', { name: 'Playback domain' }).fill('live.example.com');
  await bind.getByRole('button', { name: 'Bind domain' }).click();
  await page.getByRole('button', { name: 'Unbind live.example.com' }).waitFor();
  const copyCdn = page.getByRole('button', { name: /^Copy CDN URL http:\/\/live\.example\.com\// });
  await copyCdn.first().waitFor();
  const cdnUrl = (await copyCdn.first().getAttribute('aria-label')).replace(/^Copy CDN URL /, '');

  // The channel cannot go while it has an endpoint; the reason is on the page.
  await page.getByRole('button', { name: 'Delete channel' }).click();
  await confirm(page, 'Delete');
  const refusal = page.getByRole('alert').filter({ hasText: /endpoint/ });
  await refusal.first().waitFor();
  const refusalText = await refusal.first().innerText();

  // At phone width nothing spills sideways.
  await page.setViewportSize({ width: 375, height: 800 });
  await page.waitForTimeout(300);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  if (overflow > 1) fail(`the page is ${overflow}px wider than a 375px screen`);
  await page.setViewportSize({ width: 1280, height: 900 });

  // Keyboard: the tabs move with the arrow keys.
  await page.getByRole('tab', { name: 'Inputs' }).click();
  await page.keyboard.press('ArrowRight');
  const selected = await page.getByRole('tab', { selected: true }).innerText();
  if (selected.trim() !== 'Endpoints') fail(`ArrowRight on Inputs selected ${selected}`);

  await page.getByRole('tab', { name: 'Endpoints' }).click();
  await page.getByRole('button', { name: 'Delete web' }).click();
  await confirm(page, 'Delete');
  await page.getByRole('button', { name: 'Preview web' }).waitFor({ state: 'detached' });
  await page.getByRole('button', { name: 'Delete channel' }).click();
  await confirm(page, 'Delete');
  await page.getByRole('heading', { level: 2, name: 'Channels' }).waitFor();
  const after = await page.getByRole('table', { name: 'Channels' }).innerText();
  if (/studio/.test(after)) fail(`the channel is still listed: ${after}`);
  // Signing out leaves the sign-in page, and the API refuses the old session.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByRole('heading', { name: 'Sign in' }).waitFor();
  const status = await page.evaluate(() => fetch('/api/status').then((r) => r.status));
  if (status !== 401) fail(`after signing out /api/status answered ${status}`);
  return { listed: list, played_s: played, cdn_url: cdnUrl, refusal: refusalText, splice };
}

/** The first media playlist a master playlist at `url` lists (with the AuthKey), or `text` itself. */
async function fetchMediaPlaylist(url, text) {
  const uri = text.split('\n').find((l) => l && !l.startsWith('#'));
  if (!uri || !text.includes('#EXT-X-STREAM-INF')) return text;
  const headers = { [process.env.AUTH_KEY_HEADER || 'X-TENCENT-PACKAGE']: 'studio-key-1' };
  return fetch(new URL(uri, url), { headers }).then((r) => r.text());
}

async function daemonDown(page) {
  await page.goto(loginUrl);
  const banner = page.getByRole('alert').filter({ hasText: /^Daemon not reachable:/ });
  await banner.first().waitFor({ timeout: 15_000 });
  const text = await banner.first().innerText();
  await banner.first().waitFor({ state: 'detached', timeout: 45_000 });
  await page.getByRole('heading', { level: 2, name: 'Channels' }).waitFor({ timeout: 15_000 });
  return { banner: text };
}

async function main() {
  if (!loginUrl || !step) fail('usage: node console.mjs <login-url> <setup|finish|daemon-down>');
  if (!fs.existsSync(CHROMIUM)) fail(`${CHROMIUM} not found (apt-get install chromium)`);
  const { chromium } = await import('playwright-core');
  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'sp-console-'));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1280, height: 900 },
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--autoplay-policy=no-user-gesture-required'],
    timeout: 30_000,
  });
  const errors = [];
  try {
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(15_000);
    page.on('pageerror', (e) => errors.push(`page error: ${e.message}`));
    page.on('console', (m) => { if (m.type() === 'error') log(`console.error: ${m.text()}`); });
    const steps = { setup, finish, 'daemon-down': daemonDown };
    if (!steps[step]) fail(`unknown step ${step}`);
    const seen = await steps[step](page);
    if (errors.length) fail(errors.join('\n'));
    process.stdout.write(JSON.stringify({ ok: true, step, ...seen }) + '\n');
  } finally {
    await context.close().catch(() => {});
    fs.rmSync(userDataDir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.stack || e) }) + '\n');
  process.exit(1);
});
