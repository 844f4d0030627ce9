// streampack console: a small single-page app over the console's JSON API (docs/console.md).
// No framework, no build step. Data is always put in the page with textContent/createElement.
'use strict';

/* ---------- DOM helpers ---------- */

// el('button', {type: 'button', onclick: f}, 'text', child, [more]) → element.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else if (k === 'class') node.className = v;
    else if (k === 'value' || k === 'checked' || k === 'readOnly') node[k] = v;
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

let uid = 0;
const nextId = (prefix) => `${prefix}-${++uid}`;

const $main = () => document.getElementById('main');
const byKey = (key) => document.querySelector(`[data-key="${CSS.escape(key)}"]`);

// Replaces host's children only when sig changed; keeps keyboard focus on the element with
// the same data-key. Lets the periodic refresh leave focus, forms and players alone.
function patch(host, sig, build) {
  if (host.dataset.sig === sig) return;
  const active = document.activeElement;
  const key = active && host.contains(active) ? active.dataset.key : undefined;
  host.replaceChildren(...[build()].flat().filter(Boolean));
  host.dataset.sig = sig;
  if (key) {
    const again = host.querySelector(`[data-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

// An alert shown inside host (created only while there is something to say).
function showError(host, msg) {
  clearError(host);
  if (msg) host.append(el('p', { class: 'error', role: 'alert' }, msg));
}
function clearError(host) {
  host.querySelectorAll(':scope > .error').forEach((n) => n.remove());
}

let announceTimer;
function announce(msg) {
  const region = document.getElementById('announcer');
  region.textContent = msg;
  clearTimeout(announceTimer);
  announceTimer = setTimeout(() => { region.textContent = ''; }, 2500);
}

/* ---------- formatting ---------- */

const nf = new Intl.NumberFormat('en-US');
const secs = (n) => `${nf.format(n)} s`;
const ago = (ms) => (ms === null || ms === undefined ? '—' : `${(ms / 1000).toFixed(1)} s ago`);
const kbits = (bps) => (bps === null || bps === undefined ? '—' : `${nf.format(Math.round(bps / 1000))} kbit/s`);
const upper = (s) => String(s || '').toUpperCase();
const cap = (s) => String(s).charAt(0).toUpperCase() + String(s).slice(1);

function uptime(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60), r = s % 60;
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${r} s`;
  return `${r} s`;
}

function liveState(ch) {
  const live = ch.live || {};
  if ((live.inputs || []).some((i) => i.delivering)) return 'live';
  return live.ended ? 'ended' : 'idle';
}

/* ---------- API ---------- */

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(`/api${path}`, opts);
  } catch (e) {
    unreachable(`the console did not answer (${e.message})`);
    throw new ApiError(0, `The console did not answer (${e.message})`);
  }
  if (res.status === 401) {
    location.href = '/';
    throw new ApiError(401, 'Not signed in');
  }
  let data = null;
  try { data = await res.json(); } catch { /* not JSON */ }
  const msg = (data && data.error) || `${res.status} ${res.statusText}`.trim();
  if (res.status === 502) {
    unreachable(msg);
    throw new ApiError(502, `Daemon not reachable: ${msg}`);
  }
  if (!res.ok) throw new ApiError(res.status, msg);
  reachable();
  return data;
}

const chPath = (id) => `/channels/${encodeURIComponent(id)}`;

function unreachable(msg) {
  const host = document.getElementById('banner');
  const text = `Daemon not reachable: ${msg}`;
  const old = host.querySelector('.banner');
  if (old) { if (old.textContent !== text) old.textContent = text; return; }
  host.append(el('p', { class: 'banner', role: 'alert' }, text));
}
function reachable() {
  document.getElementById('banner').replaceChildren();
}

/* ---------- status line ---------- */

let daemonStatus = null;

async function refreshStatus() {
  try {
    daemonStatus = await api('GET', '/status');
    const n = daemonStatus.channels;
    document.getElementById('status-line').textContent =
      `streampackd ${daemonStatus.version} · up ${uptime(daemonStatus.uptime_secs)} · ${n} channel${n === 1 ? '' : 's'}`;
  } catch (e) {
    if (e.status !== 401) document.getElementById('status-line').textContent = 'Daemon status unknown';
  }
}

const authKeyHeader = () => (daemonStatus && daemonStatus.auth_key_header) || 'X-TENCENT-PACKAGE';

/* ---------- confirmation dialog ---------- */

let confirmBox = null; // {dialog, msg, extra, ok, cancel}

// Asks with the shared <dialog>; resolves true when the user confirms. Escape cancels.
// extra: an optional control (e.g. a field) shown under the message; the caller reads it
// after the promise resolves. Its inputs must be valid for the confirm button to close.
function confirmAction(message, confirmLabel, extra) {
  if (!confirmBox) {
    const msg = el('p', { id: 'confirm-message' });
    const extraHost = el('div', { class: 'confirm-extra' });
    const cancel = el('button', { type: 'button' }, 'Cancel');
    const ok = el('button', { type: 'button', class: 'danger' });
    const dialog = el('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-message' }, msg, extraHost,
      el('div', { class: 'actions' }, cancel, ok));
    cancel.addEventListener('click', () => dialog.close('cancel'));
    ok.addEventListener('click', () => {
      const bad = [...extraHost.querySelectorAll('input, select, textarea')].find((c) => !c.checkValidity());
      if (bad) { bad.reportValidity(); bad.focus(); return; }
      dialog.close('ok');
    });
    extraHost.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' && ev.target instanceof HTMLInputElement) { ev.preventDefault(); ok.click(); }
    });
    confirmBox = { dialog, msg, extra: extraHost, cancel, ok };
    document.body.append(dialog);
  }
  const { dialog, msg, extra: extraHost, cancel, ok } = confirmBox;
  const opener = document.activeElement;
  msg.textContent = message;
  ok.textContent = confirmLabel;
  extraHost.replaceChildren(...(extra ? [extra] : []));
  dialog.returnValue = 'cancel';
  dialog.showModal();
  cancel.focus();
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      extraHost.replaceChildren();
      if (opener && opener.isConnected) opener.focus();
      resolve(dialog.returnValue === 'ok');
    }, { once: true });
  });
}

/* ---------- clipboard ---------- */

async function copy(text, selectable) {
  try {
    await navigator.clipboard.writeText(text);
    announce('Copied');
    return;
  } catch { /* fall back to selecting the text */ }
  let copied = false;
  if (selectable instanceof HTMLInputElement) {
    selectable.focus();
    selectable.select();
  } else if (selectable) {
    const range = document.createRange();
    range.selectNodeContents(selectable);
    const sel = getSelection();
    sel.removeAllRanges();
    sel.addRange(range);
  }
  try { copied = document.execCommand('copy'); } catch { copied = false; }
  announce(copied ? 'Copied' : 'Selected: press Ctrl+C to copy');
}

/* ---------- form helpers ---------- */

function field(label, control, hint) {
  control.id = control.id || nextId('f');
  let hintEl = null;
  if (hint) {
    hintEl = el('p', { class: 'hint', id: nextId('h') }, hint);
    control.setAttribute('aria-describedby', hintEl.id);
  }
  return el('div', { class: 'field' }, el('label', { for: control.id }, label), control, hintEl);
}

function checkField(label, control) {
  control.id = control.id || nextId('f');
  return el('div', { class: 'field check' }, control, el('label', { for: control.id }, label));
}

const numberInput = (name, value) =>
  el('input', { type: 'number', name, inputmode: 'numeric', step: '1', value: value ?? '' });

// Cache TTLs the daemon accepts, seconds.
const MANIFEST_TTL = [1, 60];
const SEGMENT_TTL = [10, 1800];
const ttlInput = (name, [min, max], value) =>
  el('input', { type: 'number', name, inputmode: 'numeric', step: '1', min, max, value: value ?? '' });

const num = (input) => (input.value.trim() === '' ? undefined : Number(input.value));

const list = (text, commas) =>
  text.split(commas ? /[\n,]+/ : /\n+/).map((s) => s.trim()).filter(Boolean);

// A <form aria-label=label> with an error host; onSubmit(form) returns a promise.
function makeForm(label, fields, submitLabel, onSubmit, onCancel) {
  const errors = el('div', { class: 'form-errors' });
  const submit = el('button', { type: 'submit', class: 'primary' }, submitLabel);
  const form = el('form', { class: 'card form', 'aria-label': label },
    fields, errors,
    el('div', { class: 'actions' }, submit,
      el('button', { type: 'button', onclick: onCancel }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(errors);
    submit.disabled = true;
    try {
      await onSubmit(form);
    } catch (e) {
      if (e.status !== 401) showError(errors, e.message);
    } finally {
      submit.disabled = false;
    }
  });
  form.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') onCancel(); });
  return form;
}

/* ---------- router and polling ---------- */

let view = null; // {kind, id, alive, ...}
let firstRender = true;

function parseRoute() {
  let parts;
  try {
    parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  } catch {
    return { kind: 'missing' }; // a malformed escape such as %zz
  }
  if (parts.length === 0) return { kind: 'list' };
  if (parts[0] === 'channels' && parts[1] && parts.length <= 3) {
    const tab = TABS.includes(parts[2]) ? parts[2] : 'inputs';
    return { kind: 'channel', id: parts[1], tab };
  }
  return { kind: 'missing' };
}

function route() {
  const r = parseRoute();
  if (view && view.alive && r.kind === 'channel' && view.kind === 'channel' && view.id === r.id) {
    view.selectTab(r.tab, false);
    return;
  }
  if (view) { view.alive = false; stopPreview(); }
  view = { kind: r.kind, id: r.id, alive: true };
  if (r.kind === 'list') renderList(view);
  else if (r.kind === 'channel') renderChannel(view, r.tab);
  else renderMissing();
}

// Runs fn now and then every ms until the view is left (no overlapping requests).
function poll(v, ms, fn) {
  const tick = async () => {
    if (!v.alive) return;
    try { await fn(); } catch { /* shown by the view or the banner */ }
    if (v.alive) v.timer = setTimeout(tick, ms);
  };
  tick();
}

function focusHeading(h2) {
  if (firstRender) { firstRender = false; return; }
  h2.focus();
}

function renderMissing() {
  const h2 = el('h2', { tabindex: '-1' }, 'Page not found');
  $main().replaceChildren(h2, el('p', {}, el('a', { href: '#/' }, 'All channels')));
  focusHeading(h2);
}

/* ---------- channel list ---------- */

function renderList(v) {
  const h2 = el('h2', { tabindex: '-1' }, 'Channels');
  const formHost = el('div');
  const errors = el('div');
  const tableHost = el('div', { class: 'table-wrap' });
  const createBtn = el('button', { type: 'button', class: 'primary', onclick: () => openCreateChannel(formHost, createBtn) }, 'Create channel');
  $main().replaceChildren(h2, el('div', { class: 'toolbar' }, createBtn), formHost, errors, tableHost);
  focusHeading(h2);
  poll(v, 3000, async () => {
    try {
      const channels = await api('GET', '/channels');
      clearError(errors);
      patch(tableHost, JSON.stringify(channels.map(channelRowData)), () => channelTable(channels));
    } catch (e) {
      if (e.status !== 502 && e.status !== 0) showError(errors, e.message);
      throw e;
    }
  });
}

const channelRowData = (c) => [c.id, c.name, c.protocol, liveState(c), (c.live || {}).active_input];

function channelTable(channels) {
  const head = el('tr', {}, ['Name', 'ID', 'Protocol', 'Live state', 'Active input']
    .map((t) => el('th', { scope: 'col' }, t)));
  const rows = channels.length === 0
    ? [el('tr', {}, el('td', { colspan: '5', class: 'empty' }, 'No channels yet'))]
    : channels.map((c) => el('tr', {},
      el('th', { scope: 'row' }, el('a', { href: `#/channels/${encodeURIComponent(c.id)}`, 'data-key': `ch:${c.id}` }, c.name)),
      el('td', {}, el('code', {}, c.id)),
      el('td', {}, upper(c.protocol)),
      el('td', {}, el('span', { class: `state state-${liveState(c)}` }, liveState(c))),
      el('td', {}, (c.live || {}).active_input || '—')));
  return el('table', {}, el('caption', {}, 'Channels'), el('thead', {}, head), el('tbody', {}, rows));
}

function openCreateChannel(host, opener) {
  if (host.firstChild) { host.querySelector('input').focus(); return; }
  const close = () => { host.replaceChildren(); opener.focus(); };
  const name = el('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false' });
  const protocol = el('select', { name: 'protocol' },
    el('option', { value: 'hls' }, 'HLS'), el('option', { value: 'dash' }, 'DASH'));
  const seg = numberInput('max_segment_duration', 15);
  const playlist = numberInput('max_playlist_duration', 600);
  const timeshift = numberInput('timeshift_window_secs', 0);
  const manifestTtl = ttlInput('manifest_ttl', MANIFEST_TTL);
  const segmentTtl = ttlInput('segment_ttl', SEGMENT_TTL);
  const endOnEndlist = el('input', { type: 'checkbox', name: 'end_on_endlist' });
  const description = el('input', { type: 'text', name: 'description', autocomplete: 'off' });
  const form = makeForm('Create channel', [
    el('h3', {}, 'New channel'),
    field('Name', name),
    field('Input protocol', protocol),
    field('Max segment duration (s)', seg,
      'When you send a primary and a backup stream, set the segment duration a little longer than the encoder\'s.'),
    field('Max playlist duration (s)', playlist),
    field('Time-shift window (s)', timeshift),
    field('Manifest TTL (s)', manifestTtl, `Optional, ${MANIFEST_TTL.join('–')}; empty: the daemon's default.`),
    field('Segment TTL (s)', segmentTtl, `Optional, ${SEGMENT_TTL.join('–')}; empty: the daemon's default.`),
    checkField('End the presentation when the encoder ends its stream', endOnEndlist),
    field('Description', description),
  ], 'Create', async () => {
    const body = { name: name.value.trim(), protocol: protocol.value, end_on_endlist: endOnEndlist.checked };
    const opt = {
      max_segment_duration: num(seg), max_playlist_duration: num(playlist),
      timeshift_window_secs: num(timeshift), manifest_ttl: num(manifestTtl), segment_ttl: num(segmentTtl),
      description: description.value.trim() || undefined,
    };
    for (const [k, val] of Object.entries(opt)) if (val !== undefined) body[k] = val;
    const ch = await api('POST', '/channels', body);
    location.hash = `#/channels/${encodeURIComponent(ch.id)}`;
  }, close);
  host.replaceChildren(form);
  name.focus();
}

/* ---------- channel details ---------- */

const TABS = ['inputs', 'endpoints', 'cdn', 'ads'];
const TAB_LABELS = { inputs: 'Inputs', endpoints: 'Endpoints', cdn: 'CDN', ads: 'Ad breaks' };

function renderChannel(v, tab) {
  const h2 = el('h2', { tabindex: '-1' }, 'Channel');
  const loading = el('p', {}, 'Loading…');
  const errors = el('div');
  $main().replaceChildren(el('p', {}, el('a', { href: '#/' }, 'All channels')), h2, errors, loading);
  let built = false;
  v.seq = 0;
  v.applied = 0;
  v.selectTab = (t) => { tab = t; };
  v.load = async () => {
    const my = ++v.seq;
    v.apply(await api('GET', chPath(v.id)), my);
  };
  v.apply = (ch, my = ++v.seq) => {
    if (!v.alive || my < v.applied) return;
    v.applied = my;
    v.ch = ch;
    if (!built) {
      built = true;
      loading.remove();
      clearError(errors);
      buildChannel(v, h2, errors, tab);
      updateChannel(v);
      focusHeading(h2);
      return;
    }
    updateChannel(v);
  };
  poll(v, 2000, async () => {
    try {
      await v.load();
      clearError(errors);
    } catch (e) {
      if (e.status === 502 || e.status === 0) throw e;
      if (built) {
        if (e.status === 404) stopPreview(); // the channel, and so its endpoints, are gone
        showError(errors, e.message);
        throw e;
      }
      if (e.status === 404) {
        h2.textContent = 'Channel not found';
        loading.remove();
        v.alive = false;
        focusHeading(h2);
      }
      showError(errors, e.message);
      throw e;
    }
  });
}

function buildChannel(v, h2, errors, tab) {
  v.h2 = h2;
  v.actionErrors = el('div');
  v.dl = el('div');
  const formHost = el('div');
  const editBtn = el('button', { type: 'button', onclick: () => openEditChannel(v, formHost, editBtn) }, 'Edit channel');
  const deleteBtn = el('button', { type: 'button', class: 'danger', onclick: () => deleteChannel(v) }, 'Delete channel');
  const tablist = el('div', { role: 'tablist', 'aria-label': 'Channel sections', class: 'tabs' });
  const tabs = {}, panels = {};
  for (const t of TABS) {
    tabs[t] = el('button', {
      type: 'button', role: 'tab', id: `tab-${t}`, 'aria-controls': `panel-${t}`,
      onclick: () => v.selectTab(t, true),
    }, TAB_LABELS[t]);
    panels[t] = el('div', { role: 'tabpanel', id: `panel-${t}`, 'aria-labelledby': `tab-${t}`, tabindex: '0', class: 'panel' });
    tablist.append(tabs[t]);
  }
  tablist.addEventListener('keydown', (ev) => {
    const i = TABS.indexOf(v.tab);
    const to = { ArrowRight: i + 1, ArrowLeft: i - 1, Home: 0, End: TABS.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const t = TABS[(to + TABS.length) % TABS.length];
    v.selectTab(t, true);
    tabs[t].focus();
  });
  v.selectTab = (t, updateHash) => {
    if (t !== 'endpoints') stopPreview();
    v.tab = t;
    for (const k of TABS) {
      const on = k === t;
      tabs[k].setAttribute('aria-selected', String(on));
      tabs[k].tabIndex = on ? 0 : -1;
      panels[k].hidden = !on;
    }
    if (updateHash) history.replaceState(null, '', `#/channels/${encodeURIComponent(v.id)}/${t}`);
  };
  v.inputsPanel = buildInputsPanel(v, panels.inputs);
  v.endpointsPanel = buildEndpointsPanel(v, panels.endpoints);
  v.cdnPanel = buildCdnPanel(v, panels.cdn);
  buildAdsPanel(v, panels.ads);
  errors.after(v.dl, el('div', { class: 'toolbar' }, editBtn, deleteBtn), v.actionErrors, formHost,
    tablist, ...TABS.map((t) => panels[t]));
  v.selectTab(tab, false);
}

function updateChannel(v) {
  const ch = v.ch;
  if (v.h2.textContent !== ch.name) v.h2.textContent = ch.name;
  const rows = [
    ['Name', ch.name], ['ID', ch.id], ['Input protocol', upper(ch.protocol)],
    ['Max segment duration', secs(ch.max_segment_duration)],
    ['Max playlist duration', secs(ch.max_playlist_duration)],
    ['Time-shift window', ch.timeshift_window_secs ? secs(ch.timeshift_window_secs) : '0 s (off)'],
    ['Manifest TTL', secs(ch.manifest_ttl)], ['Segment TTL', secs(ch.segment_ttl)],
    ['Description', ch.description || '—'],
  ];
  patch(v.dl, JSON.stringify(rows), () => el('dl', { class: 'details' },
    rows.map(([k, val]) => el('div', {}, el('dt', {}, k), el('dd', {}, val)))));
  v.inputsPanel.update(ch);
  v.endpointsPanel.update(ch);
  v.cdnPanel.update(ch);
}

function openEditChannel(v, host, opener) {
  if (host.firstChild) { host.querySelector('input').focus(); return; }
  const ch = v.ch;
  const close = () => { host.replaceChildren(); opener.focus(); };
  const name = el('input', { type: 'text', name: 'name', required: true, value: ch.name, autocomplete: 'off' });
  const seg = numberInput('max_segment_duration', ch.max_segment_duration);
  const playlist = numberInput('max_playlist_duration', ch.max_playlist_duration);
  const timeshift = numberInput('timeshift_window_secs', ch.timeshift_window_secs);
  const manifestTtl = ttlInput('manifest_ttl', MANIFEST_TTL, ch.manifest_ttl);
  const segmentTtl = ttlInput('segment_ttl', SEGMENT_TTL, ch.segment_ttl);
  const endOnEndlist = el('input', { type: 'checkbox', name: 'end_on_endlist', checked: !!ch.end_on_endlist });
  const description = el('input', { type: 'text', name: 'description', value: ch.description, autocomplete: 'off' });
  const form = makeForm('Edit channel', [
    el('h3', {}, 'Edit channel'),
    field('Name', name),
    field('Max segment duration (s)', seg),
    field('Max playlist duration (s)', playlist),
    field('Time-shift window (s)', timeshift),
    field('Manifest TTL (s)', manifestTtl, `${MANIFEST_TTL.join('–')}.`),
    field('Segment TTL (s)', segmentTtl, `${SEGMENT_TTL.join('–')}.`),
    checkField('End the presentation when the encoder ends its stream', endOnEndlist),
    field('Description', description),
  ], 'Save', async () => {
    const now = v.ch, patchBody = {};
    if (name.value.trim() !== ch.name) patchBody.name = name.value.trim();
    for (const [k, input] of [['max_segment_duration', seg], ['max_playlist_duration', playlist], ['timeshift_window_secs', timeshift],
      ['manifest_ttl', manifestTtl], ['segment_ttl', segmentTtl]]) {
      const n = num(input);
      if (n !== undefined && n !== ch[k]) patchBody[k] = n;
    }
    if (endOnEndlist.checked !== !!ch.end_on_endlist) patchBody.end_on_endlist = endOnEndlist.checked;
    if (description.value !== ch.description) patchBody.description = description.value;
    if (Object.keys(patchBody).length) v.apply(await api('PATCH', chPath(now.id), patchBody));
    close();
  }, close);
  host.replaceChildren(form);
  name.focus();
}

async function deleteChannel(v) {
  const ch = v.ch;
  if (!await confirmAction(`Delete channel ${ch.name}? This cannot be undone.`, 'Delete')) return;
  clearError(v.actionErrors);
  try {
    await api('DELETE', chPath(ch.id));
    location.hash = '#/';
  } catch (e) {
    if (e.status !== 401) showError(v.actionErrors, e.message);
  }
}

// Runs an action of a panel; errors go to the panel's alert host.
async function act(host, fn) {
  clearError(host);
  try { return await fn(); } catch (e) { if (e.status !== 401) showError(host, e.message); }
  return undefined;
}

/* ---------- ad breaks tab ---------- */

function buildAdsPanel(v, panel) {
  const errors = el('div');
  const duration = el('input', { type: 'number', name: 'duration', min: '1', max: '86400', step: '1', value: '30' });
  const result = el('p', { role: 'status', class: 'splice-result' });
  const splice = (body, what) => act(errors, async () => {
    const r = await api('POST', `${chPath(v.ch.id)}/splice`, body);
    result.textContent = `${what} ${r.event_id} at ${r.at}` + (r.duration_secs ? ` for ${r.duration_secs} s.` : '.');
    announce(result.textContent);
  });
  const insert = el('button', { type: 'button', onclick: () => splice(
    { duration_ms: Math.round(Number(duration.value || 0) * 1000) }, 'Ad break') }, 'Insert ad break');
  const back = el('button', { type: 'button', onclick: () => splice({ return: true }, 'Return from ad break') }, 'Return to program');
  panel.append(
    el('p', {}, 'An ad break (SCTE-35 splice_insert) at the next segment boundary, signalled on every endpoint as if the encoder had sent it: HLS EXT-X-DATERANGE or CUE-OUT/IN as each endpoint is set, an EventStream in DASH and CMAF manifests.'),
    field('Break duration (seconds)', duration),
    el('div', { class: 'toolbar' }, insert, back), errors, result);
}

/* ---------- inputs tab ---------- */

function buildInputsPanel(v, panel) {
  const summary = el('div');
  const errors = el('div');
  const sections = el('div', { class: 'inputs' });
  panel.append(summary, errors, sections);
  const parts = {};
  return {
    update(ch) {
      const live = ch.live || {};
      patch(summary, JSON.stringify([liveState(ch), live.active_input, live.failovers, live.inputs_aligned]), () =>
        el('p', { class: 'summary' },
          `Live state: ${liveState(ch)} · Active input: ${live.active_input || '—'} · `,
          `Failovers: ${nf.format(live.failovers || 0)} · Inputs aligned: ${live.inputs_aligned ? 'yes' : 'no'}`));
      ch.inputs.forEach((input, i) => {
        const key = input.role || String(i);
        if (!parts[key]) {
          parts[key] = { controls: el('div'), live: el('div', { class: 'live' }) };
          const title = `${cap(input.role || `input ${i + 1}`)} input`;
          const hid = nextId('h');
          sections.append(el('section', { class: 'card input', 'aria-labelledby': hid },
            el('h3', { id: hid }, title), parts[key].controls, parts[key].live));
        }
        const liveInput = (live.inputs || []).find((l) => l.role === input.role) || (live.inputs || [])[i];
        const index = input.role === 'backup' ? 2 : input.role === 'primary' ? 1 : i + 1;
        patch(parts[key].controls, JSON.stringify(input), () => inputControls(v, ch, input, index, errors));
        patch(parts[key].live, JSON.stringify(liveInput || null), () => inputLive(liveInput));
      });
    },
  };
}

function readonlyField(label, value, key) {
  const input = el('input', { type: 'text', readOnly: true, value: value || '', 'data-key': key, spellcheck: 'false' });
  input.addEventListener('focus', () => input.select());
  return [field(label, input), input];
}

function inputControls(v, ch, input, index, errors) {
  const who = `${cap(input.role || `input ${index}`)} input`; // "Primary input"
  const short = cap(input.role || `input ${index}`); // "Primary"
  const [urlField, urlInput] = readonlyField(`${who} URL`, input.url, `url-${index}`);
  const copyBtn = el('button', { type: 'button', 'aria-label': `Copy ${who} URL`, 'data-key': `copy-${index}`,
    onclick: () => copy(input.url, urlInput) }, 'Copy');
  const auth = input.auth || {};
  const path = `${chPath(ch.id)}/inputs/${index}/auth`;
  const run = (action, body) => act(errors, async () => v.apply(await api('POST', `${path}/${action}`, body)));
  const out = [el('div', { class: 'copy-row' }, urlField, copyBtn),
    el('p', { class: 'auth-state' }, `Authentication: ${auth.enabled ? 'On' : 'Off'}`)];
  if (!auth.enabled) {
    out.push(el('div', { class: 'toolbar' }, el('button', {
      type: 'button', 'aria-label': `Enable authentication on ${who}`, 'data-key': `auth-toggle-${index}`,
      onclick: () => run('enable'),
    }, 'Enable authentication')));
    return out;
  }
  out.push(readonlyField(`${short} username`, auth.username, `user-${index}`)[0],
    readonlyField(`${short} password`, auth.password, `pass-${index}`)[0]);
  if (auth.previous_valid_until_unix_ms) {
    out.push(el('p', { class: 'hint' }, `The previous credentials are accepted until ${new Date(auth.previous_valid_until_unix_ms).toLocaleString()}.`));
  }
  out.push(el('div', { class: 'toolbar' },
    el('button', {
      type: 'button', 'aria-label': `Rotate credentials of ${who}`, 'data-key': `rotate-${index}`,
      onclick: async () => {
        const grace = el('input', { type: 'number', name: 'grace_secs', inputmode: 'numeric', step: '1', min: '0', value: '0' });
        const graceField = field('Keep the old credentials valid for (s)', grace, '0: the old username and password stop working at once.');
        if (await confirmAction(`Rotate the credentials of ${who} of ${ch.name}? The encoder needs the new ones.`, 'Rotate', graceField)) {
          run('rotate', { grace_secs: num(grace) || 0 });
        }
      },
    }, 'Rotate credentials'),
    el('button', {
      type: 'button', class: 'danger', 'aria-label': `Disable authentication on ${who}`, 'data-key': `auth-toggle-${index}`,
      onclick: async () => {
        if (await confirmAction(`Disable authentication on ${who} of ${ch.name}? Anyone who can reach the ingest URL can then push to it.`, 'Disable')) run('disable');
      },
    }, 'Disable authentication')));
  return out;
}

function inputLive(l) {
  if (!l) return el('p', { class: 'hint' }, 'No live state yet.');
  const rows = [
    ['Delivering', l.delivering ? 'yes' : 'no'], ['Health', l.health],
    ['Last segment', ago(l.last_segment_age_ms)], ['Bitrate', kbits(l.bitrate_bps)],
    ['Segments', nf.format(l.segments)], ['Ingest errors', nf.format(l.ingest_errors)],
  ];
  const out = [el('dl', { class: 'details compact' }, rows.map(([k, val]) => el('div', {}, el('dt', {}, k), el('dd', {}, val))))];
  const recent = l.recent_errors || [];
  if (recent.length) {
    out.push(el('h4', {}, 'Recent ingest errors'), el('ul', { class: 'errors-list' }, recent.map((r) => el('li', {},
      el('time', { datetime: new Date(r.at_unix_ms).toISOString() }, new Date(r.at_unix_ms).toLocaleTimeString()),
      ` · ${r.status} ${r.reason || ''} · `, el('code', {}, r.path || '')))));
  }
  return out;
}

/* ---------- endpoints tab ---------- */

function buildEndpointsPanel(v, panel) {
  const errors = el('div');
  const formHost = el('div');
  const tableHost = el('div', { class: 'table-wrap' });
  const note = el('p', { class: 'hint' });
  v.previewHost = el('div');
  const createBtn = el('button', { type: 'button', class: 'primary', onclick: () => openEndpointForm(v, formHost, createBtn, null) }, 'Create endpoint');
  v.focusCreateEndpoint = () => createBtn.focus();
  panel.append(el('div', { class: 'toolbar' }, createBtn), formHost, errors, tableHost, note, v.previewHost);
  return {
    update(ch) {
      if (preview && v.previewHost.contains(preview.section) && !ch.endpoints.some((e) => e.id === preview.epId)) {
        const hadFocus = v.previewHost.contains(document.activeElement);
        stopPreview();
        if (hadFocus) v.focusCreateEndpoint();
        announce('Preview stopped: the endpoint no longer exists');
      }
      note.textContent = `AuthKeys are checked in the ${authKeyHeader()} request header: a player must send one of the endpoint's keys in it.`;
      patch(tableHost, JSON.stringify(ch.endpoints), () => endpointTable(v, ch, formHost, errors));
    },
  };
}

function endpointTable(v, ch, formHost, errors) {
  const head = el('tr', {}, ['Name', 'Type', 'URL', 'Low latency', 'Encryption', 'Access', 'Actions'].map((t) => el('th', { scope: 'col' }, t)));
  const rows = ch.endpoints.length === 0
    ? [el('tr', {}, el('td', { colspan: '7', class: 'empty' }, 'No endpoints yet'))]
    : ch.endpoints.map((ep) => {
      const urlCode = el('code', { class: 'url' }, ep.url);
      const editBtn = el('button', { type: 'button', 'aria-label': `Edit ${ep.name}`, 'data-key': `edit-${ep.id}`,
        onclick: () => openEndpointForm(v, formHost, editBtn, ep) }, 'Edit');
      return el('tr', {},
        el('th', { scope: 'row' }, ep.name),
        el('td', {}, upper(ep.type)),
        el('td', {}, urlCode),
        el('td', {}, ep.low_latency ? 'yes' : 'no'),
        el('td', {}, encryptionText(ep)),
        el('td', {}, `${ep.allow.length} allow · ${ep.block.length} block · ${ep.auth_keys.length} AuthKey${ep.auth_keys.length === 1 ? '' : 's'}`),
        el('td', { class: 'row-actions' },
          el('button', { type: 'button', 'aria-label': `Copy URL of ${ep.name}`, 'data-key': `copy-${ep.id}`, onclick: () => copy(ep.url, urlCode) }, 'Copy URL'),
          el('button', { type: 'button', 'aria-label': `Preview ${ep.name}`, 'data-key': `preview-${ep.id}`, onclick: () => startPreview(v, ep) }, 'Preview'),
          editBtn,
          el('button', { type: 'button', class: 'danger', 'aria-label': `Delete ${ep.name}`, 'data-key': `delete-${ep.id}`, onclick: () => deleteEndpoint(v, ep, errors) }, 'Delete')));
    });
  return el('table', {}, el('caption', {}, 'Endpoints'), el('thead', {}, head), el('tbody', {}, rows));
}

/** An endpoint's encryption in words: scheme, rotation, where keys come from. */
function encryptionText(ep) {
  if (!ep.encryption || ep.encryption === 'none') return 'none';
  const rotation = ep.key_rotation_secs ? `, new key every ${ep.key_rotation_secs} s` : '';
  return `${ep.encryption}${rotation}${ep.key_server ? ', keys from a key server' : ''}`;
}

function openEndpointForm(v, host, opener, ep) {
  const ch = v.ch;
  const close = () => {
    host.replaceChildren();
    if (opener.isConnected) opener.focus();
    else (byKey(`edit-${ep && ep.id}`) || { focus: v.focusCreateEndpoint }).focus();
  };
  const name = el('input', { type: 'text', name: 'name', required: true, autocomplete: 'off', spellcheck: 'false', value: ep ? ep.name : '' });
  const types = ch.protocol === 'dash' ? ['dash', 'cmaf'] : ['hls', 'cmaf'];
  const type = el('select', { name: 'type' }, types.map((t) => el('option', { value: t }, upper(t))));
  type.value = ch.protocol;
  const manifest = el('input', { type: 'text', name: 'manifest_name', autocomplete: 'off', spellcheck: 'false', placeholder: 'main', value: ep ? ep.manifest_name : '' });
  const area = (n, values) => el('textarea', { name: n, rows: '3', spellcheck: 'false', value: (values || []).join('\n') });
  const allow = area('allow', ep && ep.allow), block = area('block', ep && ep.block), keys = area('auth_keys', ep && ep.auth_keys);
  const lowLatency = el('input', { type: 'checkbox', name: 'low_latency', checked: !!(ep && ep.low_latency) });
  const dash = ch.protocol === 'dash';
  // Encryption: aes-128 or sample-aes on hls endpoints, cenc/cbcs on cmaf ones (the daemon says why not).
  const encryption = el('select', { name: 'encryption' },
    ['none', 'aes-128', 'sample-aes', 'cenc', 'cbcs'].map((t) => el('option', { value: t }, t)));
  encryption.value = (ep && ep.encryption) || 'none';
  const rotation = el('input', { type: 'number', name: 'key_rotation_secs', min: '0', step: '1',
    value: ep ? String(ep.key_rotation_secs || 0) : '0' });
  const keyServer = el('input', { type: 'url', name: 'key_server', autocomplete: 'off', spellcheck: 'false',
    placeholder: 'https://keys.example/speke/v2.0/copyProtection', value: (ep && ep.key_server) || '' });
  const adMarkers = el('select', { name: 'ad_markers' },
    ['daterange', 'cue', 'passthrough', 'none'].map((t) => el('option', { value: t }, t)));
  adMarkers.value = (ep && ep.ad_markers) || 'daterange';
  const inband = el('input', { type: 'checkbox', name: 'inband_markers', checked: !!(ep && ep.inband_markers) });
  const cmaf = ep ? ep.type === 'cmaf' : null;
  const label = ep ? 'Edit endpoint' : 'Create endpoint';
  const form = makeForm(label, [
    el('h3', {}, ep ? `Edit endpoint ${ep.name}` : 'New endpoint'),
    field('Name', name),
    ep ? null : field('Type', type),
    field('Manifest name', manifest, ep ? null : 'Optional; default main.'),
    field('IP allowlist', allow, 'One CIDR per line (commas also accepted); empty: everyone.'),
    field('IP blocklist', block, 'One CIDR per line (commas also accepted).'),
    field('AuthKeys', keys, `One per line; players send one in the ${authKeyHeader()} header. Empty: no key needed.`),
    dash ? checkField('Low latency', lowLatency) : null,
    dash ? null : field('Encryption', encryption, 'aes-128 or sample-aes for hls endpoints, cenc or cbcs for cmaf ones.'),
    dash ? null : field('Key rotation (seconds)', rotation, '0: one key for the endpoint\'s life.'),
    dash ? null : field('Key server (SPEKE v2)', keyServer, 'Optional; empty: the daemon makes and keeps the keys.'),
    field('Ad markers', adMarkers, 'How HLS playlists signal SCTE-35 breaks (cue and passthrough: HLS only); MPDs carry an EventStream unless none.'),
    cmaf === false ? null : checkField('In-band markers (cmaf: emsg in the segments)', inband),
  ], ep ? 'Save' : 'Create', async () => {
    const crypto = dash ? {} : {
      encryption: encryption.value,
      key_rotation_secs: Number(rotation.value || 0),
      key_server: keyServer.value.trim(),
    };
    const lists = { allow: list(allow.value, true), block: list(block.value, true), auth_keys: list(keys.value, false) };
    if (ep) {
      const body = { ...lists };
      if (name.value.trim() !== ep.name) body.name = name.value.trim();
      if (manifest.value.trim() && manifest.value.trim() !== ep.manifest_name) body.manifest_name = manifest.value.trim();
      if (dash && lowLatency.checked !== ep.low_latency) body.low_latency = lowLatency.checked;
      if (adMarkers.value !== (ep.ad_markers || 'daterange')) body.ad_markers = adMarkers.value;
      if (cmaf && inband.checked !== !!ep.inband_markers) body.inband_markers = inband.checked;
      if (!dash) {
        if (crypto.encryption !== (ep.encryption || 'none')) body.encryption = crypto.encryption;
        if (crypto.key_rotation_secs !== (ep.key_rotation_secs || 0)) body.key_rotation_secs = crypto.key_rotation_secs;
        if (crypto.key_server !== (ep.key_server || '')) body.key_server = crypto.key_server;
      }
      await api('PATCH', `${chPath(ch.id)}/endpoints/${encodeURIComponent(ep.id)}`, body);
    } else {
      const body = { name: name.value.trim(), type: type.value };
      if (manifest.value.trim()) body.manifest_name = manifest.value.trim();
      for (const [k, val] of Object.entries(lists)) if (val.length) body[k] = val;
      if (dash) body.low_latency = lowLatency.checked;
      if (adMarkers.value !== 'daterange') body.ad_markers = adMarkers.value;
      if (inband.checked) body.inband_markers = true;
      if (!dash && crypto.encryption !== 'none') {
        body.encryption = crypto.encryption;
        body.key_rotation_secs = crypto.key_rotation_secs;
        if (crypto.key_server) body.key_server = crypto.key_server;
      }
      await api('POST', `${chPath(ch.id)}/endpoints`, body);
    }
    await v.load().catch(() => {});
    close();
  }, close);
  host.replaceChildren(form);
  name.focus();
}

async function deleteEndpoint(v, ep, errors) {
  if (!await confirmAction(`Delete endpoint ${ep.name}? Players using its URL stop getting the stream.`, 'Delete')) return;
  await act(errors, async () => {
    await api('DELETE', `${chPath(v.ch.id)}/endpoints/${encodeURIComponent(ep.id)}`);
    if (preview && preview.epId === ep.id) stopPreview();
    await v.load().catch(() => {});
    v.focusCreateEndpoint();
  });
}

/* ---------- preview ---------- */

let preview = null; // {epId, player, kind, section, video}
const scripts = {};

function loadScript(src) {
  if (!scripts[src]) {
    scripts[src] = new Promise((resolve, reject) => {
      const s = el('script', { src });
      s.onload = resolve;
      s.onerror = () => { delete scripts[src]; reject(new Error(`could not load ${src}`)); };
      document.head.append(s);
    });
  }
  return scripts[src];
}

function stopPreview(focusTo) {
  if (!preview) return;
  const p = preview;
  preview = null;
  try {
    if (p.player) (p.player.destroy || p.player.reset).call(p.player);
  } catch { /* already gone */ }
  p.video.pause();
  p.video.removeAttribute('src');
  p.video.load();
  p.section.remove();
  if (focusTo && focusTo.isConnected) focusTo.focus();
}

async function startPreview(v, ep) {
  stopPreview();
  const video = el('video', { controls: true, muted: true, playsinline: true, 'aria-label': `Preview of ${ep.name}`, 'data-state': 'loading' });
  video.muted = true;
  const state = el('p', { role: 'status', class: 'player-state' }, 'Loading…');
  const hid = nextId('h');
  const stopBtn = el('button', { type: 'button', onclick: () => stopPreview(byKey(`preview-${ep.id}`)) }, 'Stop preview');
  const section = el('section', { 'aria-label': 'Preview', class: 'card preview' },
    el('h3', { id: hid }, `Preview of ${ep.name}`), video, state, stopBtn);
  const me = { epId: ep.id, video, section, player: null };
  preview = me;
  v.previewHost.replaceChildren(section);
  const set = (s, text) => {
    if (preview !== me) return;
    if (video.dataset.state === 'error' && s !== 'error') return;
    video.dataset.state = s;
    if (state.textContent !== text) state.textContent = text;
  };
  const fail = (msg) => set('error', `Error: ${msg}`);
  let lastTime = 0;
  video.addEventListener('playing', () => set('playing', 'Playing'));
  video.addEventListener('timeupdate', () => { if (video.currentTime > lastTime && lastTime > 0) set('playing', 'Playing'); lastTime = video.currentTime; });
  video.addEventListener('error', () => fail((video.error && video.error.message) || 'the video could not be played'));
  stopBtn.focus();

  if (!daemonStatus) await refreshStatus();
  const header = authKeyHeader();
  const key = ep.auth_keys && ep.auth_keys[0];
  const isHls = /\.m3u8(\?|$)/.test(ep.url) || (!/\.mpd(\?|$)/.test(ep.url) && ep.type === 'hls');
  try {
    if (isHls) {
      await loadScript('/assets/vendor/hls.min.js');
      if (preview !== me) return;
      if (window.Hls && Hls.isSupported()) {
        const hls = new Hls({ xhrSetup: (xhr) => { if (key) xhr.setRequestHeader(header, key); } });
        me.player = hls;
        hls.on(Hls.Events.ERROR, (_e, d) => {
          const code = d.response && d.response.code ? ` (HTTP ${d.response.code})` : '';
          if (d.fatal) fail(`${d.type}: ${d.details}${code}`);
        });
        hls.loadSource(ep.url);
        hls.attachMedia(video);
      } else if (video.canPlayType('application/vnd.apple.mpegurl')) {
        // Without MSE the browser fetches the playlist itself: no request header can be added.
        if (key) throw new Error('this browser\'s native HLS player cannot send the AuthKey header; use a browser with Media Source Extensions');
        video.src = ep.url;
      } else {
        throw new Error('this browser cannot play HLS');
      }
    } else {
      await loadScript('/assets/vendor/dash.all.min.js');
      if (preview !== me) return;
      const player = dashjs.MediaPlayer().create();
      me.player = player;
      if (key) addDashHeader(player, header, key);
      player.on(dashjs.MediaPlayer.events.ERROR, (e) => {
        const err = e && e.error;
        fail((err && (err.message || err.code)) || 'dash.js error');
      });
      player.initialize(video, ep.url, true);
    }
    video.play().catch(() => { /* autoplay may wait for the player */ });
  } catch (e) {
    fail(e.message);
  }
}

function addDashHeader(player, header, key) {
  if (typeof player.addRequestInterceptor === 'function') {
    player.addRequestInterceptor((req) => {
      req.headers = Object.assign({}, req.headers, { [header]: key });
      return Promise.resolve(req);
    });
  } else {
    player.extend('RequestModifier', () => ({
      modifyRequestHeader(xhr) { xhr.setRequestHeader(header, key); return xhr; },
      modifyRequestURL(url) { return url; },
    }), true);
  }
}

/* ---------- CDN tab ---------- */

function buildCdnPanel(v, panel) {
  const errors = el('div');
  const domains = el('div');
  const urls = el('div');
  const domain = el('input', { type: 'text', name: 'domain', required: true, autocomplete: 'off', spellcheck: 'false', placeholder: 'live.example.com' });
  const bindErrors = el('div', { class: 'form-errors' });
  const form = el('form', { class: 'card form inline-form', 'aria-label': 'Bind CDN domain' },
    field('Playback domain', domain), el('button', { type: 'submit', class: 'primary' }, 'Bind domain'), bindErrors);
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError(bindErrors);
    try {
      v.apply(await api('POST', `${chPath(v.ch.id)}/cdn`, { domain: domain.value.trim() }));
      domain.value = '';
      announce('Domain bound');
    } catch (e) {
      if (e.status !== 401) showError(bindErrors, e.message);
    }
  });
  panel.append(
    el('p', {}, 'Requests whose Host is one of these domains are served this channel\'s endpoints: point your CDN\'s origin at the daemon\'s pull address.'),
    el('h3', {}, 'Playback domains'), errors, domains, form,
    el('h3', {}, 'CDN playback URLs'), urls);
  return {
    update(ch) {
      patch(domains, JSON.stringify(ch.cdn_domains), () => (ch.cdn_domains.length === 0
        ? el('p', { class: 'empty' }, 'No domains bound')
        : el('ul', { class: 'plain-list' }, ch.cdn_domains.map((d) => el('li', {}, el('code', {}, d), ' ',
          el('button', { type: 'button', class: 'danger', 'aria-label': `Unbind ${d}`, 'data-key': `unbind-${d}`,
            onclick: () => unbind(v, d, errors) }, 'Unbind'))))));
      const eps = ch.endpoints.map((e) => [e.id, e.name, e.cdn_urls || []]);
      patch(urls, JSON.stringify(eps), () => cdnUrls(ch, eps));
    },
  };
}

function cdnUrls(ch, eps) {
  if (eps.length === 0) return el('p', { class: 'empty' }, 'No endpoints yet');
  if (ch.cdn_domains.length === 0) return el('p', { class: 'empty' }, 'Bind a domain to get CDN playback URLs.');
  return eps.map(([id, name, list]) => el('div', { class: 'cdn-endpoint' }, el('h4', {}, name),
    el('ul', { class: 'plain-list' }, list.map((u) => {
      const code = el('code', { class: 'url' }, u);
      return el('li', {}, code, ' ', el('button', { type: 'button', 'aria-label': `Copy CDN URL ${u}`, 'data-key': `cdn-${id}-${u}`,
        onclick: () => copy(u, code) }, 'Copy'));
    }))));
}

async function unbind(v, domain, errors) {
  if (!await confirmAction(`Unbind ${domain} from channel ${v.ch.name}? Requests for ${domain} are then no longer served this channel.`, 'Unbind')) return;
  await act(errors, async () => v.apply(await api('DELETE', `${chPath(v.ch.id)}/cdn/${encodeURIComponent(domain)}`)));
}

/* ---------- sign-out ---------- */

async function signOut(ev) {
  const btn = ev.currentTarget;
  btn.disabled = true;
  try {
    await api('POST', '/logout');
    location.href = '/'; // the server shows the sign-in page
  } catch (e) {
    if (e.status !== 401) announce(`Could not sign out: ${e.message}`);
  } finally {
    btn.disabled = false;
  }
}

/* ---------- start ---------- */

document.querySelector('.site-header').append(
  el('button', { type: 'button', class: 'sign-out', onclick: signOut }, 'Sign out'));

window.addEventListener('hashchange', route);
refreshStatus();
setInterval(refreshStatus, 5000);
route();
