/**
 * The page's script: plain browser JavaScript, no build step, no framework. State comes from the one
 * event stream (devices, job lines) and a few GETs; actions are JSON POSTs. Every text from the
 * server goes in through textContent, never as HTML (a disk's model string is device-controlled).
 */
export const APP_JS = String.raw`'use strict';
(() => {
  const $ = (id) => document.getElementById(id);
  const S = {
    step: 'node', nodes: [], status: null, node: null,
    host: null, devices: [], devicesHost: null, device: null,
    burnJob: null, burnNode: null, burnTarget: null, phase: null, phaseT0: 0, errLines: [],
    waitJob: null, waitErr: [], checks: new Map(), seen: new Set(), firstDevices: true,
  };

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === false || v === null || v === undefined) continue;
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const c of kids) if (c !== null && c !== undefined) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return e;
  }

  function size(n) {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let v = Number(n) || 0, i = 0;
    while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return v.toFixed(i ? 1 : 0) + ' ' + u[i];
  }
  const mb = (n) => (n / 1e6).toFixed(1);
  function clock(s) {
    if (!isFinite(s) || s < 0) return '--:--';
    s = Math.round(s);
    return Math.floor(s / 60) + ':' + String(s % 60).padStart(2, '0');
  }

  async function api(path, body) {
    const opt = body ? { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) } : {};
    const r = await fetch(path, opt);
    let j = {};
    try { j = await r.json(); } catch (e) { j = { error: 'HTTP ' + r.status }; }
    if (!r.ok) throw new Error(j.error || 'HTTP ' + r.status);
    return j;
  }

  /** The CLI's own words: its first line up front, the rest (usage text and the like) folded away. */
  function showError(box, lines, code) {
    box.replaceChildren();
    const text = lines.filter((l) => l.trim() !== '');
    box.append(el('p', {}, el('strong', { text: text[0] || 'failed' }), code !== undefined ? el('span', { class: 'muted', text: ' (exit ' + code + ')' }) : null));
    if (text.length > 1) box.append(el('details', {}, el('summary', { text: 'Full message' }), el('pre', { text: text.join('\n') })));
    box.hidden = false;
  }
  const uiError = (box, e) => showError(box, ['metis ui: ' + (e && e.message ? e.message : String(e))]);
  const hideError = (box) => { box.hidden = true; box.replaceChildren(); };

  // ---------- steps ----------
  const STEPS = ['node', 'card', 'write', 'fleet'];
  function go(step, focus) {
    S.step = step;
    for (const s of STEPS) {
      $('step-' + s).hidden = s !== step;
      const b = $('nav-' + s);
      if (s === step) b.setAttribute('aria-current', s === 'fleet' ? 'page' : 'step'); else b.removeAttribute('aria-current');
    }
    if (step === 'fleet') loadFleet();
    if (step === 'write') {
      // A finished or failed write belongs to the node and card it was for.
      if (!S.burnJob && S.doneKey !== key()) {
        $('done-box').hidden = true; $('progress-box').hidden = true; $('write-actions').hidden = false; hideError($('burn-error'));
      }
      renderSummary();
    }
    if (focus !== false) $('h-' + step).focus();
  }
  function refreshNav() {
    $('nav-card').disabled = !S.node;
    $('nav-write').disabled = !S.node || !target();
    $('to-card').disabled = !S.node;
    $('to-write').disabled = !target();
  }
  for (const s of STEPS) $('nav-' + s).addEventListener('click', () => go(s));
  $('to-card').addEventListener('click', () => go('card'));
  $('back-node').addEventListener('click', () => go('node'));
  $('to-write').addEventListener('click', () => go('write'));
  $('back-card').addEventListener('click', () => go('card'));

  // ---------- step 1: node ----------
  const byName = (rows) => new Map((rows || []).map((r) => [r.node || r.name || r.hostname, r]));
  function clusterOf(name) {
    if (!S.status) return null;
    const r = byName(S.status).get(name);
    if (!r) return { text: 'not in the status table', cls: 'warn' };
    const ready = r.ready !== undefined ? r.ready : r.Ready;
    const isReady = ready === true || ready === 'True' || ready === 'Ready';
    const notReady = ready === false || ready === 'False' || ready === 'NotReady';
    let text = isReady ? 'Ready' : notReady ? 'NotReady' : ready === null ? 'no Node object' : 'Ready unknown';
    if (typeof r.verdict === 'string') text += ' \u00b7 ' + r.verdict;
    const bad = notReady || r.verdict === 'failed';
    const good = isReady && (r.verdict === undefined || r.verdict === 'converged');
    return { text, cls: bad ? 'bad' : good ? 'good' : 'warn' };
  }
  function renderNodes() {
    const list = $('node-list');
    const q = $('filter').value.trim().toLowerCase();
    const rows = S.nodes.filter((n) => !q || [n.hostname, n.class, n.address, n.role].join(' ').toLowerCase().includes(q));
    list.replaceChildren();
    if (!rows.length) list.append(el('p', { class: 'muted', text: S.nodes.length ? 'No node matches the filter.' : 'The inventory has no nodes.' }));
    for (const n of rows) {
      const id = 'node-' + n.hostname;
      const img = n.imageState === 'cached' ? ['image cached', 'good'] : n.imageState === 'not cached' ? ['image not cached (downloaded on write)', 'warn'] : n.imageState === 'local file' ? ['image: local file', 'good'] : ['no image', 'bad'];
      const idn = n.escrowed ? ['identity escrowed', 'good'] : ['not escrowed: the node gets a new identity', 'warn'];
      const cl = clusterOf(n.hostname);
      const label = el('label', { for: id },
        el('span', { class: 'name', text: n.hostname }),
        el('span', { class: 'meta', text: [n.class, n.role, n.address].filter((x) => x && x !== '-').join(' \u00b7 ') }),
        el('span', { class: 'badges' },
          el('span', { class: 'badge ' + img[1], text: img[0] }),
          el('span', { class: 'badge ' + idn[1], text: idn[0] }),
          cl ? el('span', { class: 'badge ' + cl.cls, text: 'cluster: ' + cl.text }) : null));
      const input = el('input', { type: 'radio', name: 'node', id, value: n.hostname, checked: S.node === n.hostname });
      input.addEventListener('change', () => chooseNode(n.hostname));
      list.append(el('div', { class: 'choice' }, input, label));
    }
  }
  async function chooseNode(name) {
    S.node = name;
    refreshNav();
    $('manifest-box').hidden = false;
    $('manifest').textContent = 'Loading\u2026';
    try {
      const m = await api('api/manifest?node=' + encodeURIComponent(name));
      if (S.node !== name) return;
      $('manifest').textContent = m.code === 0 ? m.text : (m.error || 'metis manifest exited ' + m.code);
    } catch (e) { $('manifest').textContent = String(e.message); }
  }
  $('filter').addEventListener('input', renderNodes);
  async function loadNodes() {
    try {
      const r = await api('api/nodes');
      if (r.code !== 0 || !Array.isArray(r.data)) { showError($('nodes-error'), (r.error || 'metis nodes failed').split('\n'), r.code); $('node-list').replaceChildren(); return; }
      hideError($('nodes-error'));
      S.nodes = r.data;
      renderNodes();
    } catch (e) { uiError($('nodes-error'), e); }
  }

  // ---------- step 2: card ----------
  function target() {
    if (S.device === '@file') { const f = $('to-file').value.trim(); return f ? { to: f } : null; }
    if (S.device) return { device: S.device, host: S.host };
    return null;
  }
  const devLabel = (d) => [d.model || 'unknown model', size(d.size), d.transport || null, d.removable ? 'removable' : null].filter(Boolean).join(' \u00b7 ');
  function why(d) {
    if (d.readOnly) return 'read-only (is the card\'s lock switch on?)';
    if (d.mounts && d.mounts.length) return 'mounted at ' + d.mounts.join(', ') + ': unmount it first';
    return null;
  }
  function renderDevices() {
    const list = $('device-list');
    const focused = document.activeElement && document.activeElement.name === 'device' ? document.activeElement.value : null;
    const usable = S.devices.filter((d) => !d.system);
    const system = S.devices.length - usable.length;
    list.replaceChildren();
    if (!usable.length) list.append(el('p', { class: 'muted', text: 'No card found yet. Insert one; it appears here by itself.' }));
    for (const d of usable) {
      const id = 'dev-' + d.path.replace(/[^A-Za-z0-9]/g, '-');
      const off = why(d);
      const input = el('input', { type: 'radio', name: 'device', id, value: d.path, disabled: !!off, checked: S.device === d.path });
      input.addEventListener('change', () => { S.device = d.path; refreshNav(); });
      list.append(el('div', { class: 'choice' + (off ? ' off' : '') }, input,
        el('label', { for: id }, el('span', { class: 'name', text: d.path }), el('span', { class: 'meta', text: devLabel(d) }),
          off ? el('span', { class: 'badges' }, el('span', { class: 'badge bad', text: off })) : null)));
    }
    $('system-note').textContent = system ? system + (system === 1 ? ' system disk is' : ' system disks are') + ' not shown: ' + (system === 1 ? 'it holds' : 'they hold') + ' the running system (/, /boot or swap) and ' + (system === 1 ? 'is' : 'are') + ' never written.' : '';
    if (focused) { const f = [...document.getElementsByName('device')].find((x) => x.value === focused); if (f) f.focus(); }
  }
  function onDevices(ev) {
    if ((ev.host || null) !== (S.host || null)) return;
    S.devicesHost = ev.host || null;
    if (ev.error) showError($('devices-error'), ev.error.split('\n'), ev.code);
    else hideError($('devices-error'));
    const before = new Set(S.devices.map((d) => d.path));
    const now = new Set((ev.devices || []).map((d) => d.path));
    const added = (ev.devices || []).filter((d) => !before.has(d.path) && !d.system);
    const gone = S.devices.filter((d) => !now.has(d.path) && !d.system);
    S.devices = ev.devices || [];
    if (S.device && S.device !== '@file' && !now.has(S.device)) S.device = null;
    renderDevices();
    refreshNav();
    if (!S.firstDevices) {
      const msg = added.map((d) => 'Card inserted: ' + d.path + ' (' + devLabel(d) + ').').concat(gone.map((d) => 'Removed: ' + d.path + '.'));
      if (msg.length) $('hotplug').textContent = msg.join(' ');
    }
    S.firstDevices = false;
  }
  function setWhere(v) {
    watch(v === 'local' ? null : v.replace(/^flasher:/, ''));
  }
  for (const r of document.getElementsByName('where')) r.addEventListener('change', () => setWhere(r.value));
  /** The inventory's flashing hosts (cluster.yaml flashers:), one choice each beside this computer. */
  async function loadFlashers() {
    try {
      const r = await api('api/flashers');
      const list = $('flasher-list');
      list.replaceChildren();
      if (r.code !== 0 || !Array.isArray(r.data)) { $('flasher-note').textContent = 'Flashing hosts: ' + ((r.error || 'the inventory could not be read').split('\n')[0]); return; }
      for (const f of r.data) {
        const input = el('input', { type: 'radio', name: 'where', id: 'where-' + f.name.replace(/[^A-Za-z0-9_-]/g, '-'), value: 'flasher:' + f.name, checked: S.host === f.name });
        input.addEventListener('change', () => setWhere(input.value));
        list.append(el('label', { class: 'inline', title: 'ssh ' + f.ssh }, input, ' flashing host ', el('strong', { text: f.name }), el('span', { class: 'muted', text: ' (' + f.ssh + ')' })));
      }
      $('flasher-note').textContent = r.data.length ? '' : 'No flashing hosts in cluster.yaml (flashers:); cards on this computer only.';
    } catch (e) { $('flasher-note').textContent = 'Flashing hosts: ' + (e && e.message ? e.message : String(e)); }
  }
  function watch(host) {
    S.host = host; S.devices = []; S.device = S.device === '@file' ? '@file' : null; S.firstDevices = true;
    $('device-list').replaceChildren(el('p', { class: 'muted', text: host ? 'Asking ' + host + ' for its disks\u2026' : 'Looking for disks\u2026' }));
    refreshNav();
    api('api/watch', { host }).catch((e) => uiError($('devices-error'), e));
  }
  $('dev-file').addEventListener('change', () => { S.device = '@file'; refreshNav(); $('to-file').focus(); });
  $('to-file').addEventListener('input', () => { if ($('to-file').value.trim()) { S.device = '@file'; $('dev-file').checked = true; } refreshNav(); });

  // ---------- step 3: write ----------
  const key = () => (S.node || '') + '|' + JSON.stringify(target());
  function targetRows() {
    const t = target();
    if (!t) return [];
    if (t.to) return [['Image file', t.to]];
    const d = S.devices.find((x) => x.path === t.device) || {};
    return [['Card', t.device + (t.host ? ' on ' + t.host : ' on this computer')], ['Model', d.model || 'unknown model'], ['Size', size(d.size)]];
  }
  function summaryInto(dl) {
    dl.replaceChildren();
    for (const [k, v] of [['Node', S.burnNode || S.node || '']].concat(S.burnJob ? S.burnTarget : targetRows())) dl.append(el('dt', { text: k }), el('dd', { text: v }));
  }
  function renderSummary() {
    summaryInto($('summary'));
    $('write').textContent = 'Write ' + (S.node || '') + '\'s card';
    $('write').disabled = !S.node || !target() || !!S.burnJob;
  }
  $('write').addEventListener('click', async () => {
    const t = target();
    if (!S.node || !t) return;
    hideError($('burn-error'));
    $('write').disabled = true;
    try {
      await api('api/burn', Object.assign({ node: S.node }, t));
    } catch (e) { uiError($('burn-error'), e); $('write').disabled = false; }
  });
  $('cancel').addEventListener('click', () => { if (S.burnJob) api('api/cancel', { job: S.burnJob }).catch(() => {}); });
  $('confirm-yes').addEventListener('click', () => answer('yes'));
  $('confirm-no').addEventListener('click', () => answer('no'));
  $('confirm').addEventListener('cancel', (e) => { e.preventDefault(); answer('no'); });
  function answer(a) {
    if ($('confirm').open) $('confirm').close();
    if (S.burnJob) api('api/answer', { job: S.burnJob, answer: a }).catch((e) => uiError($('burn-error'), e));
  }

  const PHASES = {
    downloading: 'Downloading the class image', hashing: 'Checking the image', analyzing: 'Reading the image\'s layout',
    writing: 'Writing', verifying: 'Verifying: reading every written byte back from the card', finished: 'Finished',
  };
  function onBurn(ev) {
    if (ev.start) {
      S.burnJob = ev.job; S.burnNode = ev.start.node; S.errLines = []; S.phase = null; S.lastT = ev.t;
      const d = S.devices.find((x) => x.path === ev.start.device) || {};
      S.burnTarget = ev.start.to ? [['Image file', ev.start.to]] : [['Card', ev.start.device + (ev.start.host ? ' on ' + ev.start.host : ' on this computer')], ['Model', d.model || 'unknown model'], ['Size', size(d.size)]];
      if (S.step !== 'write') go('write', false);
      summaryInto($('summary'));
      $('write-actions').hidden = true;
      $('done-box').hidden = true;
      hideError($('burn-error'));
      $('progress-box').hidden = false;
      $('bar').value = 0;
      $('phase').textContent = 'Preparing the image\u2026';
      $('rate').textContent = '';
      $('image-line').textContent = '';
      return;
    }
    if (ev.job !== S.burnJob) return;
    if (ev.ask) {
      summaryInto($('confirm-summary'));
      $('confirm-title').textContent = 'Erase ' + (S.burnTarget[0] ? S.burnTarget[0][1] : 'the target') + '?';
      $('confirm-question').textContent = ev.ask.replace(/\s*Type "yes" to continue:?\s*$/, '');
      if (!$('confirm').open) $('confirm').showModal();
      $('confirm-no').focus();
      return;
    }
    if (ev.answered) { if ($('confirm').open) $('confirm').close(); return; }
    if (ev.err !== undefined) { S.errLines.push(ev.err); return; }
    if (ev.exit !== undefined) return burnExit(ev.exit);
    const d = ev.data;
    if (!d) return;
    if (d.event === 'progress') {
      if (d.phase !== S.phase) {
        // The phase began when the previous one ended: its last event is the best clock we have.
        S.phase = d.phase; S.samples = [[S.lastT || ev.t, 0]];
        $('phase').textContent = PHASES[d.phase] || d.phase;
      }
      S.lastT = ev.t;
      S.samples.push([ev.t, d.bytes]);
      // MB/s over the last few seconds, so a burst into the page cache does not read as the card's speed.
      while (S.samples.length > 2 && ev.t - S.samples[1][0] > 4000) S.samples.shift();
      const [t0, b0] = S.samples[0];
      const secs = (ev.t - t0) / 1000;
      const pct = d.total > 0 ? Math.min(100, (100 * d.bytes) / d.total) : 0;
      $('bar').value = pct;
      $('bar').setAttribute('aria-valuetext', pct.toFixed(0) + ' percent');
      const parts = [pct.toFixed(0) + ' %', mb(d.bytes) + ' of ' + mb(d.total) + ' MB'];
      if (d.bytes >= d.total) parts.push('done');
      else if (secs < 0.5) parts.push('measuring speed\u2026');
      else {
        const rate = (d.bytes - b0) / secs;
        parts.push((rate / 1e6).toFixed(1) + ' MB/s', 'about ' + clock(rate > 0 ? (d.total - d.bytes) / rate : NaN) + ' left');
      }
      $('rate').textContent = parts.join(' \u00b7 ');
    } else if (d.event === 'image') {
      $('image-line').textContent = 'Image ' + d.ref + (d.sha256 ? ' (sha256 ' + d.sha256.slice(0, 16) + '\u2026)' : '');
    } else if (d.event === 'image-ready') {
      $('image-line').textContent = 'Image ready from ' + d.from + ', sha256 ' + String(d.sha256).slice(0, 16) + '\u2026 checked';
    } else if (d.event === 'done') {
      S.done = d;
    }
  }
  function burnExit(code) {
    const node = S.burnNode;
    S.burnJob = null;
    S.doneKey = key();
    if ($('confirm').open) $('confirm').close();
    $('progress-box').hidden = true;
    $('write-actions').hidden = false;
    renderSummary();
    if (code !== 0) {
      showError($('burn-error'), S.errLines.length ? S.errLines : ['metis burn failed'], code);
      $('burn-error').setAttribute('tabindex', '-1');
      $('burn-error').focus();
      return;
    }
    const d = S.done || {};
    $('write-actions').hidden = true;
    $('done-text').textContent = 'Written' + (d.verified ? ' and verified' : ' (NOT verified)') + ': ' + mb(d.bytesWritten || 0) + ' MB of data from a ' + mb(d.imageSize || 0) + ' MB image in ' + ((d.durationMs || 0) / 1000).toFixed(1) + ' s; metis/node.yaml written and read back.';
    $('insert').textContent = S.burnTarget && S.burnTarget[0][0] === 'Image file' ? 'The image file for ' + node + ' is ready: write it to a card, insert the card into ' + node + ' and power it on.' : 'Insert the card into ' + node + ' and power it on.';
    $('done-box').hidden = false;
    $('insert').setAttribute('tabindex', '-1');
    $('insert').focus();
    startWait(node);
  }

  // ---------- rejoin checklist (metis wait) ----------
  function startWait(node) {
    S.checks = new Map(); S.waitErr = [];
    $('checklist').replaceChildren(el('li', { class: 'muted', text: 'Waiting for ' + node + '\u2026' }));
    hideError($('wait-error'));
    api('api/wait', { node }).catch((e) => uiError($('wait-error'), e));
  }
  $('wait-again').addEventListener('click', () => { if (S.burnNode) startWait(S.burnNode); });
  $('another').addEventListener('click', () => { $('done-box').hidden = true; $('write-actions').hidden = false; S.done = null; S.doneKey = null; go('node'); });
  function checkItem(name, ok, detail) {
    const cls = ok === true ? 'pass' : ok === false ? 'fail' : 'pending';
    const mark = ok === true ? '\u2713' : ok === false ? '\u2717' : '\u2026';
    return el('li', { class: cls }, el('span', { class: 'mark', 'aria-hidden': 'true', text: mark }), el('span', { class: 'sr-only', text: cls + ': ' }), name, detail ? el('span', { class: 'muted', text: ' \u2014 ' + detail }) : null);
  }
  function renderChecks() {
    $('checklist').replaceChildren(...[...S.checks.entries()].map(([k, c]) => checkItem(k, c.ok, c.detail)));
  }
  // metis wait draws its checklist as lines "[ok] Title", "[..] Title: why not yet", "[  ] Title"
  // (a block per change, "--" between blocks); a JSON line with check/name and ok/status works too.
  const CHECK_LINE = /^\[(ok|\.\.|\s\s)\] (.+?)(?:: (.*))?$/;
  function onWaitLine(line) {
    const m = CHECK_LINE.exec(line);
    if (m) {
      S.checks.set(m[2], { ok: m[1] === 'ok' ? true : m[1] === '..' ? false : null, detail: m[3] || '' });
      renderChecks();
      return true;
    }
    return line.trim() === '--';
  }
  function onWait(ev) {
    if (ev.start) { S.waitJob = ev.job; S.waitInfo = []; return; }
    if (ev.job !== S.waitJob) return;
    if (ev.err !== undefined) { if (!onWaitLine(ev.err)) S.waitErr.push(ev.err); return; }
    if (ev.exit !== undefined) {
      if (ev.exit === 0) $('checklist').append(checkItem(S.waitInfo.join(' ') || S.burnNode + ' is back: every check holds', true));
      else {
        if (!S.checks.size) $('checklist').replaceChildren();
        showError($('wait-error'), S.waitErr.length ? S.waitErr : ['metis wait failed'], ev.exit);
      }
      return;
    }
    const d = ev.data;
    if (d && typeof d === 'object' && (d.check || d.name)) {
      const st = d.ok !== undefined ? d.ok : d.status === 'ok' || d.status === 'pass' ? true : d.status === 'fail' || d.status === 'failed' ? false : null;
      S.checks.set(String(d.check || d.name), { ok: st, detail: d.detail || d.message || d.reason || '' });
      renderChecks();
    } else if (ev.line !== undefined && !onWaitLine(ev.line)) S.waitInfo.push(ev.line);
  }
  // ---------- fleet (metis status) ----------
  async function loadFleet() {
    const t = $('fleet');
    try {
      const r = await api('api/status');
      const rows = Array.isArray(r.data) ? r.data : r.data && Array.isArray(r.data.nodes) ? r.data.nodes : null;
      if (rows) { S.status = rows; renderNodes(); }
      if (r.error || !rows) showError($('fleet-error'), (r.error || 'metis status printed no table').split('\n'), r.code); else hideError($('fleet-error'));
      t.replaceChildren();
      if (!rows || !rows.length) return;
      const cols = [];
      const scalar = (v) => v === null || typeof v !== 'object' || (Array.isArray(v) && v.every((x) => typeof x !== 'object'));
      for (const row of rows) for (const [k, v] of Object.entries(row)) if (!cols.includes(k) && scalar(v)) cols.push(k);
      const cell = (v) => v === undefined || v === null || v === '' ? '\u2014' : Array.isArray(v) ? (v.join('; ') || '\u2014') : /^[0-9a-f]{64}$/.test(String(v)) ? String(v).slice(0, 12) + '\u2026' : String(v);
      t.append(el('thead', {}, el('tr', {}, ...cols.map((c) => el('th', { scope: 'col', text: c })))));
      t.append(el('tbody', {}, ...rows.map((row) => el('tr', {}, ...cols.map((c) => el('td', { text: cell(row[c]), title: typeof row[c] === 'string' && row[c].length > 12 ? row[c] : null }))))));
    } catch (e) { uiError($('fleet-error'), e); }
  }
  $('fleet-refresh').addEventListener('click', loadFleet);

  // ---------- the event stream ----------
  const es = new EventSource('events');
  es.onopen = () => { $('conn').textContent = ''; };
  es.onerror = () => { $('conn').textContent = 'Lost the connection to metis ui; retrying. Is it still running?'; };
  es.onmessage = (m) => {
    const ev = JSON.parse(m.data);
    if (S.seen.has(ev.seq)) return;
    S.seen.add(ev.seq);
    if (ev.type === 'devices') onDevices(ev);
    else if (ev.type === 'job' && ev.kind === 'burn') onBurn(ev);
    else if (ev.type === 'job' && ev.kind === 'wait') onWait(ev);
  };

  loadNodes();
  loadFlashers();
  fetch('api/status').then((r) => r.json()).then((r) => {
    const rows = Array.isArray(r.data) ? r.data : r.data && Array.isArray(r.data.nodes) ? r.data.nodes : null;
    if (rows) { S.status = rows; renderNodes(); }
  }).catch(() => {});
  refreshNav();
})();
`;
