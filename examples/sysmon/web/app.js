// sysmon dashboard: follows /events (see README.md for the messages) and
// draws one card per host with a chart per metric. Plain JS, no build step.
(() => {
  'use strict';

  const isNum = (x) => typeof x === 'number' && Number.isFinite(x);

  // Metrics: how to check a record's fields, which series to draw, what to
  // show as the latest value. Records are the collector's JSON objects (see
  // collect.go); anything else is "unparsed".
  const pct = (v) => v.toFixed(1) + '%';
  const METRICS = [
    {
      name: 'cpu', title: 'CPU',
      valid: (o) => isNum(o.total) && (o.cores === undefined || (Array.isArray(o.cores) && o.cores.every(isNum))),
      series: (last) => [{ label: 'total', color: '#5eb4ff', width: 2.2, get: (o) => o.total }]
        .concat((last.cores || []).map((_, i) => ({ label: 'cpu' + i, color: coreColor(i), width: 1, get: (o) => (o.cores || [])[i] }))),
      now: (o) => `${pct(o.total)} total · ${(o.cores || []).length} cores`,
      range: [0, 100], fmt: (v) => v + '%',
    },
    {
      name: 'mem', title: 'Memory',
      valid: (o) => isNum(o.pct) && ['used', 'total', 'swapPct'].every((f) => o[f] === undefined || isNum(o[f])),
      series: () => [
        { label: 'used', color: '#b48cff', width: 2, get: (o) => o.pct },
        { label: 'swap', color: '#ff8fa3', width: 1.2, get: (o) => o.swapPct },
      ],
      now: (o) => isNum(o.used) && isNum(o.total) ? `${pct(o.pct)} · ${bytes(o.used)} of ${bytes(o.total)}` : pct(o.pct),
      range: [0, 100], fmt: (v) => v + '%',
    },
    {
      name: 'load', title: 'Load',
      valid: (o) => isNum(o.l1) && isNum(o.l5) && isNum(o.l15),
      series: () => [
        { label: '1m', color: '#ffd166', width: 2, get: (o) => o.l1 },
        { label: '5m', color: '#f4a259', width: 1.4, get: (o) => o.l5 },
        { label: '15m', color: '#bc6c25', width: 1.2, get: (o) => o.l15 },
      ],
      now: (o) => `${o.l1.toFixed(2)} · ${o.l5.toFixed(2)} · ${o.l15.toFixed(2)}`,
      fmt: (v) => String(v),
    },
    {
      name: 'net', title: 'Network',
      valid: (o) => isNum(o.rx) && isNum(o.tx),
      series: () => [
        { label: 'rx', color: '#3fb950', width: 1.8, get: (o) => o.rx },
        { label: 'tx', color: '#58a6ff', width: 1.8, get: (o) => o.tx },
      ],
      now: (o) => `↓ ${bytes(o.rx)}/s · ↑ ${bytes(o.tx)}/s`,
      fmt: (v) => bytes(v) + '/s', axis: 78,
    },
    {
      name: 'disk', title: 'Disk',
      valid: (o) => isNum(o.read) && isNum(o.write),
      series: () => [
        { label: 'read', color: '#39c5bb', width: 1.8, get: (o) => o.read },
        { label: 'write', color: '#e3b341', width: 1.8, get: (o) => o.write },
      ],
      now: (o) => `read ${bytes(o.read)}/s · write ${bytes(o.write)}/s`,
      fmt: (v) => bytes(v) + '/s', axis: 78,
    },
    {
      name: 'procs', title: 'Top processes', table: true,
      valid: (o) => Array.isArray(o.top) && o.top.every((p) => p && typeof p === 'object' &&
        isNum(p.pid) && typeof p.name === 'string' && isNum(p.cpu) && isNum(p.rss)),
    },
  ];
  const METRIC = Object.fromEntries(METRICS.map((m) => [m.name, m]));
  const CHARTS = METRICS.filter((m) => !m.table);

  function coreColor(i) { return `hsla(${(200 + i * 47) % 360}, 55%, 62%, 0.55)`; }

  function bytes(n) {
    const u = ['B', 'kB', 'MB', 'GB', 'TB'];
    let i = 0;
    while (Math.abs(n) >= 1000 && i < u.length - 1) { n /= 1000; i++; }
    return (i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 1 : 0)) + ' ' + u[i];
  }

  // ---- state: the windows, exactly as the messages describe them ----

  // key -> Map(id -> entry {id, score, value}); only zset windows.
  let windows = new Map();
  let offset = null;
  const dirty = new Set(); // keys changed since the last render
  let badMessages = [];     // envelopes that could not be read

  function onUpdates(msg) {
    for (const k of windows.keys()) dirty.add(k);
    windows = new Map();
    badMessages = [];
    for (const w of msg.windows || []) {
      if (!w || w.type !== 'zset' || typeof w.key !== 'string') continue;
      const m = new Map();
      for (const e of w.entries || []) if (e && typeof e.id === 'string') m.set(e.id, e);
      windows.set(w.key, m);
      dirty.add(w.key);
    }
    offset = msg.offset;
  }

  function onDUpdates(msg) {
    for (const d of msg.deltas || []) {
      if (!d || d.type !== 'zset' || typeof d.key !== 'string') continue;
      let m = windows.get(d.key);
      if (d.clear || !m) { m = new Map(); windows.set(d.key, m); }
      for (const id of d.del || []) m.delete(id);
      for (const e of d.set || []) if (e && typeof e.id === 'string') m.set(e.id, e);
      if (m.size === 0) windows.delete(d.key);
      dirty.add(d.key);
    }
    offset = msg.offset;
  }

  // ---- derived: parsed records per host and metric ----

  // "sysmon:<host>:<metric>" -> {host, metric}
  function parseKey(key) {
    if (!key.startsWith('sysmon:')) return null;
    const rest = key.slice(7);
    const i = rest.lastIndexOf(':');
    if (i <= 0) return null;
    return { host: rest.slice(0, i), metric: rest.slice(i + 1) };
  }

  // One entry -> {t, o} or {err}.
  function parseEntry(metric, e) {
    const spec = METRIC[metric];
    if (!spec) return { err: 'unknown metric' };
    if (typeof e.value !== 'string') return { err: 'value is not a string' };
    let o;
    try { o = JSON.parse(e.value); } catch (_) { return { err: 'not JSON' }; }
    if (!o || typeof o !== 'object' || Array.isArray(o)) return { err: 'not a JSON object' };
    const t = isNum(o.t) ? o.t : e.score;
    if (!isNum(t)) return { err: 'no time' };
    try {
      if (!spec.valid(o)) return { err: 'missing or non-numeric fields' };
    } catch (_) { return { err: 'unreadable fields' }; }
    return { t, o };
  }

  // host -> {metric -> [{t, o}] ascending by t}
  const hosts = new Map();
  // key -> [{key, id, raw, why}]
  const unparsed = new Map();

  function derive(key) {
    const pk = parseKey(key);
    unparsed.delete(key);
    if (!pk) return null;
    let h = hosts.get(pk.host);
    const m = windows.get(key);
    const recs = [];
    const bad = [];
    for (const e of m ? m.values() : []) {
      const r = parseEntry(pk.metric, e);
      if (r.err) bad.push({ key, id: e.id, raw: String(e.value), why: r.err, score: e.score });
      else recs.push(r);
    }
    if (bad.length) unparsed.set(key, bad);
    recs.sort((a, b) => a.t - b.t);
    if (!h && recs.length === 0) return null;
    if (!h) { h = { name: pk.host, data: {} }; hosts.set(pk.host, h); }
    if (recs.length) h.data[pk.metric] = recs; else delete h.data[pk.metric];
    return h;
  }

  // ---- view ----

  const $hosts = document.getElementById('hosts');
  const cards = new Map(); // host -> card

  function el(tag, cls, text) {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function newCard(name) {
    const root = el('section', 'host');
    root.dataset.host = name;
    const head = el('div', 'host-head');
    head.append(el('h2', null, name), el('span', 'facts'), el('span', 'updated'));
    const charts = el('div', 'charts');
    const card = { name, root, head, charts, plots: {}, panels: {}, table: null, newest: 0 };
    for (const spec of CHARTS) {
      const p = el('div', 'chart');
      p.dataset.metric = spec.name;
      const ph = el('div', 'chart-head');
      ph.append(el('span', 'title', spec.title), el('span', 'now'));
      const plot = el('div', 'plot nodata');
      p.append(ph, plot);
      charts.append(p);
      card.panels[spec.name] = { root: p, now: ph.lastChild, plot, u: null, nseries: 0 };
    }
    // The top processes fill the grid's last cell.
    const p = el('div', 'chart');
    p.dataset.metric = 'procs';
    const ph = el('div', 'chart-head');
    ph.append(el('span', 'title', 'Top processes'), el('span', 'now', '% of one core'));
    const table = el('table', 'procs');
    const thead = el('thead');
    const tr = el('tr');
    for (const h of ['pid', 'name', 'cpu', 'rss']) tr.append(el('th', null, h));
    thead.append(tr);
    table.append(thead, el('tbody'));
    p.append(ph, table);
    charts.append(p);
    card.table = table;
    root.append(head, charts);
    return card;
  }

  function placeCards() {
    const names = [...hosts.keys()].sort();
    for (const [name, card] of cards) {
      if (!hosts.has(name)) {
        for (const p of Object.values(card.panels)) if (p.u) p.u.destroy();
        card.root.remove();
        cards.delete(name);
      }
    }
    let prev = null;
    for (const name of names) {
      let card = cards.get(name);
      if (!card) { card = newCard(name); cards.set(name, card); }
      const want = prev ? prev.nextSibling : $hosts.firstChild;
      if (card.root !== want) $hosts.insertBefore(card.root, want);
      prev = card.root;
    }
    document.getElementById('empty').hidden = names.length > 0;
  }

  const axisStyle = { stroke: '#8a93a3', grid: { stroke: '#262c37', width: 1 }, ticks: { stroke: '#262c37', width: 1 } };

  function clock(secs) {
    return new Date(secs * 1000).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  function plotOpts(spec, series, width) {
    return {
      width, height: 160,
      legend: { show: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: true }, y: spec.range ? { range: spec.range } : { range: (u, lo, hi) => [0, Math.max(hi * 1.1, spec.name === 'load' ? 1 : 1024)] } },
      axes: [
        Object.assign({}, axisStyle, { space: 70, values: (u, vals) => vals.map(clock) }),
        Object.assign({}, axisStyle, { size: spec.axis || 50, values: (u, vals) => vals.map(spec.fmt) }),
      ],
      series: [{}].concat(series.map((s) => ({ label: s.label, stroke: s.color, width: s.width, points: { show: false } }))),
    };
  }

  function renderCard(card, h) {
    let newest = 0;
    for (const spec of CHARTS) {
      const panel = card.panels[spec.name];
      const recs = h.data[spec.name] || [];
      if (!recs.length) {
        if (panel.u) { panel.u.destroy(); panel.u = null; }
        panel.plot.classList.add('nodata');
        panel.now.textContent = '';
        continue;
      }
      const last = recs[recs.length - 1];
      newest = Math.max(newest, last.t);
      const series = spec.series(last.o);
      const data = [recs.map((r) => r.t / 1000)];
      for (const s of series) data.push(recs.map((r) => { const v = s.get(r.o); return isNum(v) ? v : null; }));
      panel.now.textContent = spec.now(last.o);
      panel.plot.classList.remove('nodata');
      if (panel.u && panel.nseries !== series.length) { panel.u.destroy(); panel.u = null; }
      if (!panel.u) {
        panel.u = new uPlot(plotOpts(spec, series, plotWidth(panel)), data, panel.plot);
        panel.nseries = series.length;
      } else {
        panel.u.setData(data, false);
      }
      panel.first = recs[0].t;
      panel.points = recs.length;
    }
    const procs = h.data.procs;
    if (procs && procs.length) {
      const last = procs[procs.length - 1];
      newest = Math.max(newest, last.t);
      const body = el('tbody');
      for (const p of last.o.top) {
        const tr = el('tr');
        tr.append(el('td', null, String(p.pid)), el('td', null, p.name), el('td', null, p.cpu.toFixed(1) + '%'), el('td', null, bytes(p.rss)));
        body.append(tr);
      }
      card.table.tBodies[0].replaceWith(body);
    }
    const cpu = h.data.cpu, mem = h.data.mem;
    const facts = [];
    if (cpu) facts.push(((cpu[cpu.length - 1].o.cores || []).length) + ' cores');
    if (mem && isNum(mem[mem.length - 1].o.total)) facts.push(bytes(mem[mem.length - 1].o.total) + ' RAM');
    card.head.querySelector('.facts').textContent = facts.join(' · ');
    if (newest > card.newest) {
      noteArrival(card, newest);
      card.newest = newest;
      card.root.dataset.newest = String(newest);
      card.head.querySelector('.updated').textContent = 'updated ' + new Date(newest).toLocaleTimeString();
    }
  }

  function plotWidth(panel) { return Math.max(200, panel.root.clientWidth - 16); }

  function renderUnparsed() {
    const sec = document.getElementById('unparsed');
    const all = [...unparsed.values()].flat().sort((a, b) => (b.score || 0) - (a.score || 0));
    for (const m of badMessages) all.unshift(m);
    sec.hidden = all.length === 0;
    sec.querySelector('.count').textContent = all.length ? `(${all.length})` : '';
    const ul = el('ul');
    for (const b of all.slice(0, 50)) {
      const li = el('li');
      li.append(el('span', 'key', b.key), el('span', 'raw', b.raw.length > 300 ? b.raw.slice(0, 300) + '…' : b.raw), el('span', 'why', b.why));
      ul.append(li);
    }
    sec.querySelector('ul').replaceWith(ul);
  }

  function render() {
    const touched = new Set();
    for (const key of dirty) {
      const h = derive(key);
      const pk = parseKey(key);
      if (h) touched.add(h.name);
      else if (pk && hosts.has(pk.host)) touched.add(pk.host);
    }
    dirty.clear();
    for (const [name, h] of hosts) if (Object.keys(h.data).length === 0) hosts.delete(name);
    placeCards();
    for (const name of touched) {
      const card = cards.get(name);
      if (card) renderCard(card, hosts.get(name));
    }
    renderUnparsed();
    document.getElementById('offset').textContent = 'offset ' + (offset ?? '–');
  }

  // ---- smooth time axis ----
  // The x axis glides with the clock instead of jumping once per message.
  // Its right edge is "now" minus the delay of the data: the largest recent
  // lag between a record's time and its arrival, plus the largest recent
  // gap between arrivals. The newest point then stays at or past the edge
  // until the next message comes (no gap opens at the right), at the cost
  // of showing the last second or two a little late. Per host, which also
  // absorbs a skew between its collector's clock and the browser's.
  function noteArrival(card, t) {
    const now = Date.now();
    card.lags = (card.lags || []).concat(now - t).slice(-10);
    if (card.lastArrival) card.gaps = (card.gaps || []).concat(Math.min(now - card.lastArrival, 5000)).slice(-5);
    card.lastArrival = now;
  }
  function glide() {
    if (!document.hidden) {
      for (const card of cards.values()) {
        if (!card.lags) continue;
        const right = (Date.now() - Math.max(...card.lags) - Math.max(0, ...(card.gaps || []))) / 1000;
        // One time range for all the charts of a host, from its oldest
        // point shown to the gliding right edge.
        let first = Infinity;
        for (const panel of Object.values(card.panels)) if (panel.u) first = Math.min(first, panel.first / 1000);
        if (first === Infinity) continue;
        const left = Math.min(first, right - 1);
        for (const panel of Object.values(card.panels)) {
          if (panel.u) panel.u.setScale('x', { min: left, max: right });
        }
      }
    }
    setTimeout(() => requestAnimationFrame(glide), 100);
  }
  glide();

  window.addEventListener('resize', () => {
    for (const card of cards.values()) for (const p of Object.values(card.panels)) if (p.u) p.u.setSize({ width: plotWidth(p), height: 160 });
  });

  // ---- connection ----

  const $conn = document.getElementById('conn');
  function setConn(state) {
    $conn.dataset.state = state;
    $conn.querySelector('.label').textContent = state;
  }

  let scheduled = false;
  function schedule() {
    if (scheduled) return;
    scheduled = true;
    requestAnimationFrame(() => { scheduled = false; render(); });
  }

  function handle(kind, apply) {
    return (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch (_) { msg = null; }
      if (!msg || typeof msg !== 'object') {
        badMessages.push({ key: '(' + kind + ' message)', raw: String(ev.data).slice(0, 300), why: 'not JSON', score: 0 });
        if (badMessages.length > 20) badMessages.shift();
        schedule();
        return;
      }
      apply(msg);
      schedule();
    };
  }

  redtapLive.connect('events', {
    state: setConn,
    updates: handle('updates', onUpdates),
    dUpdates: handle('dUpdates', onDUpdates),
  });

  // For tests and the curious: what the page holds.
  window.sysmon = {
    hosts: () => [...cards.keys()],
    points: (host, metric) => ((hosts.get(host) || { data: {} }).data[metric] || []).length,
    newest: (host) => (cards.get(host) || { newest: 0 }).newest,
    unparsed: () => [...unparsed.values()].flat().map((b) => b.raw),
    connection: () => $conn.dataset.state,
  };
})();
