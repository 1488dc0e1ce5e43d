// kiln dashboard: VM table with live metrics (Server-Sent Events from /events),
// actions through /api/v1 (the daemon's API, docs/api.md), and a serial console
// (xterm.js over a WebSocket to /ws/console/NAME). No inline script: the page's
// Content-Security-Policy allows scripts from this origin only.
'use strict';

const HISTORY = 300; // samples (one a second): the sparklines show the last five minutes
const rows = new Map(); // name -> {tr, cells, hist, last}
let host = null;

const $ = (sel, el = document) => el.querySelector(sel);

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const k of kids) e.append(k);
  return e;
}

function fmtBytes(b) {
  if (b == null) return '–';
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i++; }
  return (i && b < 10 ? b.toFixed(1) : Math.round(b)) + ' ' + u[i];
}

function fmtRate(b) { return b == null ? '–' : fmtBytes(b) + '/s'; }

function fmtUptime(s) {
  if (s == null) return '–';
  const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60;
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  return m ? `${m}m ${s % 60}s` : `${s}s`;
}

async function api(method, path, body) {
  const opts = { method, headers: {} };
  if (body !== undefined) {
    opts.body = JSON.stringify(body);
    opts.headers['Content-Type'] = 'application/json';
  }
  const r = await fetch('/api/v1' + path, opts);
  let j = null;
  try { j = await r.json(); } catch (e) { /* empty body */ }
  if (!r.ok) throw new Error((j && j.error) || `${r.status} ${r.statusText}`);
  return j;
}

// ---- sparklines ----

function drawSpark(canvas, values, color) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth || 110, h = canvas.clientHeight || 28;
  if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
  const c = canvas.getContext('2d');
  c.setTransform(dpr, 0, 0, dpr, 0, 0);
  c.clearRect(0, 0, w, h);
  const pts = values.filter((v) => v != null);
  if (pts.length < 2) return;
  const max = Math.max(...pts, 1e-9);
  // The first 20 s fill the width; later samples compress it, up to HISTORY.
  const step = w / (Math.min(Math.max(values.length, 20), HISTORY) - 1);
  const x0 = w - (values.length - 1) * step;
  c.beginPath();
  values.forEach((v, i) => {
    const y = h - 2 - ((v || 0) / max) * (h - 4);
    if (i) c.lineTo(x0 + i * step, y); else c.moveTo(x0, y);
  });
  c.strokeStyle = color;
  c.lineWidth = 1.5;
  c.stroke();
  c.lineTo(x0 + (values.length - 1) * step, h);
  c.lineTo(x0, h);
  c.closePath();
  c.globalAlpha = 0.12;
  c.fillStyle = color;
  c.fill();
  c.globalAlpha = 1;
}

// ---- the VM table ----

const ACTIONS = {
  defined: ['start', 'set', 'delete'],
  stopped: ['start', 'set', 'delete'],
  crashed: ['start', 'set', 'delete'],
  running: ['console', 'stop', 'kill', 'pause', 'set'],
  paused: ['console', 'resume', 'stop', 'kill', 'set'],
};

function metricCell(cls) {
  const span = el('span', { class: 'val' });
  const canvas = el('canvas', { class: 'spark ' + cls });
  return { td: el('td', {}, el('div', { class: 'metric' }, canvas, span)), span, canvas };
}

function makeRow(name) {
  const c = {
    name: el('td', { class: 'name', textContent: name }),
    state: el('td'),
    uptime: el('td'),
    cpus: el('td'),
    mem: el('td'),
    rss: el('td'),
    cpu: metricCell('cpu'),
    disk: metricCell('disk'),
    net: metricCell('net'),
    actions: el('td', { class: 'actions' }),
  };
  const tr = el('tr', { 'data-vm': name }, c.name, c.state, c.uptime, c.cpus, c.mem, c.rss,
    c.cpu.td, c.disk.td, c.net.td, c.actions);
  $('#vms tbody').append(tr);
  return { tr, c, hist: { cpu: [], disk: [], net: [] }, last: null, acts: '' };
}

function push(arr, v) {
  arr.push(v);
  if (arr.length > HISTORY) arr.shift();
}

function updateRow(row, vm, t) {
  const { c } = row;
  const live = vm.state === 'running' || vm.state === 'paused';
  const pill = el('span', { class: 'pill ' + vm.state, textContent: vm.state });
  c.state.replaceChildren(pill);
  if (vm.last_exit && vm.last_exit.reason && !live)
    c.state.append(el('span', { class: 'sub', textContent: vm.last_exit.reason }));
  c.uptime.textContent = live ? fmtUptime(vm.uptime_s) : '–';
  c.cpus.textContent = `${vm.cpus} · ${vm.cpu_cap ? vm.cpu_cap + '%' : 'no cap'}`;
  let mem = fmtBytes(vm.mem);
  if (vm.balloon && vm.balloon.target_mib != null)
    mem += ` · balloon ${vm.balloon.target_mib} MiB`;
  c.mem.textContent = mem;
  c.rss.textContent = live ? fmtBytes(vm.rss_bytes) : '–';

  // Rates from cumulative counters between two samples of the same run.
  let cpu = null, disk = null, net = null;
  const p = row.last;
  if (live && p && p.vm.pid === vm.pid && t > p.t) {
    const dt = (t - p.t) / 1000;
    cpu = Math.max(0, ((vm.cpu_time_s || 0) - (p.vm.cpu_time_s || 0)) / dt * 100);
    if (vm.io && p.vm.io) {
      disk = Math.max(0, (vm.io.disk_read_bytes + vm.io.disk_write_bytes
        - p.vm.io.disk_read_bytes - p.vm.io.disk_write_bytes) / dt);
      net = Math.max(0, (vm.io.net_rx_bytes + vm.io.net_tx_bytes
        - p.vm.io.net_rx_bytes - p.vm.io.net_tx_bytes) / dt);
    }
  }
  row.last = { t, vm };
  push(row.hist.cpu, cpu);
  push(row.hist.disk, disk);
  push(row.hist.net, net);
  c.cpu.span.textContent = cpu == null ? '–' : cpu.toFixed(cpu < 10 ? 1 : 0) + ' %';
  const noDisk = vm.io && !vm.io.disks, noNet = vm.io && !vm.io.nets;
  c.disk.span.textContent = noDisk ? 'no disk' : fmtRate(disk);
  c.net.span.textContent = noNet ? 'no NIC' : fmtRate(net);
  c.disk.canvas.hidden = !!noDisk;
  c.net.canvas.hidden = !!noNet;
  drawSpark(c.cpu.canvas, row.hist.cpu, '#2f6fde');
  drawSpark(c.disk.canvas, row.hist.disk, '#b7791f');
  drawSpark(c.net.canvas, row.hist.net, '#1e8e4e');
  row.tr.dataset.state = vm.state;
  row.tr.dataset.samples = String(row.hist.cpu.filter((v) => v != null).length);

  const acts = (ACTIONS[vm.state] || []).join(',');
  if (acts !== row.acts) {
    row.acts = acts;
    c.actions.replaceChildren(...(ACTIONS[vm.state] || []).map((a) => {
      const b = el('button', { type: 'button', textContent: a[0].toUpperCase() + a.slice(1), 'data-act': a });
      if (a === 'delete' || a === 'kill') b.className = 'danger';
      b.addEventListener('click', () => act(vm.name, a, b));
      return b;
    }));
  }
}

function onSample(msg) {
  if (msg.error) { setLive(false, msg.error); return; }
  setLive(true);
  const seen = new Set();
  for (const vm of msg.vms) {
    seen.add(vm.name);
    let row = rows.get(vm.name);
    if (!row) { row = makeRow(vm.name); rows.set(vm.name, row); }
    updateRow(row, vm, msg.t);
  }
  for (const [name, row] of rows) {
    if (!seen.has(name)) { row.tr.remove(); rows.delete(name); }
  }
  $('#empty').hidden = rows.size > 0;
  const running = msg.vms.filter((v) => v.state === 'running').length;
  $('#count').textContent = `${msg.vms.length} VMs · ${running} running`;
}

function setLive(on, why) {
  const l = $('#live');
  l.className = 'pill ' + (on ? 'on' : 'off');
  l.textContent = on ? 'live' : 'offline';
  l.title = why || 'live metrics stream';
}

function connectEvents() {
  const es = new EventSource('/events');
  es.onmessage = (e) => onSample(JSON.parse(e.data));
  es.onerror = () => setLive(false, 'reconnecting');
}

// ---- actions ----

async function act(name, a, button) {
  if (a === 'console') return openConsole(name);
  if (a === 'set') return openSet(name);
  if (a === 'delete') {
    $('#confirm-text').textContent = `Delete VM '${name}'? Its definition and files are removed.`;
    const d = $('#confirm');
    d.returnValue = '';
    d.showModal();
    await new Promise((res) => d.addEventListener('close', res, { once: true }));
    if (d.returnValue !== 'ok') return;
  }
  button.disabled = true;
  try {
    if (a === 'delete') await api('DELETE', `/vms/${encodeURIComponent(name)}`);
    else await api('POST', `/vms/${encodeURIComponent(name)}/${a}`);
  } catch (e) {
    toast(`${a} ${name}: ${e.message}`, true);
  } finally {
    button.disabled = false;
  }
}

function toast(text, err) {
  const m = $('#create-msg');
  m.textContent = text;
  m.className = 'msg ' + (err ? 'err' : 'ok');
}

function openSet(name) {
  const d = $('#set'), f = $('#set-form');
  const row = rows.get(name);
  $('#set-name').textContent = name;
  $('#set-msg').textContent = '';
  f.mem.value = '';
  f.cpu_cap.value = row && row.last ? row.last.vm.cpu_cap : 0;
  d.returnValue = '';
  d.showModal();
  d.addEventListener('close', async () => {
    if (d.returnValue !== 'ok') return;
    const body = {};
    if (f.mem.value.trim()) body.mem = f.mem.value.trim();
    if (f.cpu_cap.value !== '') body.cpu_cap = Number(f.cpu_cap.value);
    try {
      await api('PATCH', `/vms/${encodeURIComponent(name)}`, body);
      toast(`${name}: updated`);
    } catch (e) {
      toast(`set ${name}: ${e.message}`, true);
    }
  }, { once: true });
}

// The API's rules (docs/api.md), checked here first for a quick answer; the daemon
// checks them again and its error is shown as it is.
function createBody(f) {
  const name = f.name.value.trim();
  if (!/^[A-Za-z0-9_][A-Za-z0-9._-]{0,62}$/.test(name))
    throw new Error('name: 1-63 of A-Za-z0-9._- not starting with . or -');
  const body = { name };
  const mem = f.mem.value.trim();
  if (mem) {
    if (!/^[0-9]+[KMGkmg]?$/.test(mem)) throw new Error('memory: a size like 256M or 1G');
    if (/^[0-9]+$/.test(mem)) throw new Error(`memory: did you mean "${mem}M"?`);
    body.mem = mem.toUpperCase();
  }
  const cpus = Number(f.cpus.value);
  if (!Number.isInteger(cpus) || cpus < 1 || cpus > 32) throw new Error('vCPUs: 1 to 32');
  body.cpus = cpus;
  const cap = Number(f.cpu_cap.value || 0);
  const maxCap = 100 * (host ? host.cpus : 1);
  if (!Number.isInteger(cap) || cap < 0 || cap > maxCap) throw new Error(`CPU cap: 0 to ${maxCap} %`);
  if (cap) body.cpu_cap = cap;
  if (f.kernel.value.trim()) body.kernel = f.kernel.value.trim();
  if (f.append.value.trim()) body.append = f.append.value.trim();
  const args = f.args.value.trim();
  if (args) body.args = args.split(/\s+/);
  return body;
}

async function onCreate(e) {
  e.preventDefault();
  const f = e.target, btn = $('button[type=submit]', f);
  let body;
  try { body = createBody(f); } catch (err) { toast(err.message, true); return; }
  btn.disabled = true;
  try {
    await api('POST', '/vms', body);
    toast(`created ${body.name}` + (f.start.checked ? ', starting…' : ''));
    if (f.start.checked) {
      await api('POST', `/vms/${encodeURIComponent(body.name)}/start`);
      toast(`${body.name} is running`);
    }
    f.name.value = '';
  } catch (err) {
    toast(err.message, true);
  } finally {
    btn.disabled = false;
  }
}

// ---- console ----

let term = null, fit = null, sock = null;

function openConsole(name) {
  const panel = $('#console-panel');
  panel.hidden = false;
  $('#console-name').textContent = name;
  if (!term) {
    term = new window.Terminal({
      convertEol: false, cursorBlink: true, scrollback: 5000, fontSize: 14,
      fontFamily: 'ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace',
      theme: { background: '#101418' },
    });
    fit = new window.FitAddon.FitAddon();
    term.loadAddon(fit);
    term.open($('#terminal'));
    term.onData((d) => { if (sock && sock.readyState === 1) sock.send(new TextEncoder().encode(d)); });
    term.onResize(({ cols, rows: r }) => {
      if (sock && sock.readyState === 1) sock.send(JSON.stringify({ type: 'resize', cols, rows: r }));
    });
    window.addEventListener('resize', () => fit.fit());
  }
  if (sock) { sock.onclose = null; sock.close(); }
  term.reset();
  fit.fit();
  const status = $('#console-status');
  status.textContent = 'connecting…';
  const ws = new WebSocket(`ws://${location.host}/ws/console/${encodeURIComponent(name)}`);
  ws.binaryType = 'arraybuffer';
  sock = ws;
  ws.onopen = () => {
    status.textContent = 'attached · what you type goes to the guest';
    ws.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
    term.focus();
  };
  ws.onmessage = (e) => {
    if (typeof e.data !== 'string') { term.write(new Uint8Array(e.data)); return; }
    const m = JSON.parse(e.data);
    if (m.type === 'exit') {
      const why = m.reason ? `: ${m.reason}` : '';
      term.write(`\r\n\x1b[1;33m[VM '${name}' is ${m.state || 'gone'}${why}]\x1b[0m\r\n`);
      status.textContent = `VM ${m.state || 'ended'}`;
    }
  };
  ws.onclose = (e) => {
    if (sock !== ws) return;
    if (e.code !== 1000) {
      term.write(`\r\n\x1b[1;31m[console closed${e.reason ? ': ' + e.reason : ''}]\x1b[0m\r\n`);
      status.textContent = 'detached (is the VM running?)';
    }
    sock = null;
  };
  panel.scrollIntoView({ behavior: 'instant', block: 'nearest' });
}

function closeConsole() {
  if (sock) { sock.onclose = null; sock.close(); sock = null; }
  $('#console-panel').hidden = true;
}

async function init() {
  $('#create').addEventListener('submit', onCreate);
  $('#console-close').addEventListener('click', closeConsole);
  try {
    host = await api('GET', '/host');
    $('#host').textContent = `${host.cpus} host CPUs · ${fmtBytes(host.mem)} · CPU caps: ${host.cpu_limit_backend}`;
  } catch (e) {
    $('#host').textContent = e.message;
  }
  connectEvents();
}

document.addEventListener('DOMContentLoaded', init);
