// redtap serve: follows /events ("updates", then "dUpdates"; see package
// assembler) and shows every key: a table of its window, and for sorted
// sets and streams with numeric values a small chart.
(() => {
  'use strict';
  const ROWS = 50; // rows shown per key (the newest)
  const keys = new Map(); // "db/key" -> {db, key, type, stale, entries: Map(id -> entry)}
  let offset = null;
  const $keys = document.getElementById('keys');
  const $conn = document.getElementById('conn');

  const name = (w) => w.db + '/' + w.key;
  const ordered = (t) => t === 'zset' || t === 'stream';

  function onUpdates(msg) {
    keys.clear();
    for (const w of msg.windows || []) {
      const k = { db: w.db, key: w.key, type: w.type, stale: !!w.stale, entries: new Map() };
      for (const e of w.entries || []) k.entries.set(e.id, e);
      keys.set(name(w), k);
    }
    offset = msg.offset;
  }

  function onDUpdates(msg) {
    for (const d of msg.deltas || []) {
      let k = keys.get(name(d));
      if (!k) {
        k = { db: d.db, key: d.key, type: d.type, stale: false, entries: new Map() };
        keys.set(name(d), k);
      }
      k.type = d.type;
      k.stale = !!d.stale;
      if (d.clear) k.entries.clear();
      for (const id of d.del || []) k.entries.delete(id);
      for (const e of d.set || []) k.entries.set(e.id, e);
      if (d.clear && !(d.set || []).length) keys.delete(name(d)); // deleted
    }
    offset = msg.offset;
  }

  // sorted returns a key's entries in window order.
  function sorted(k) {
    const es = [...k.entries.values()];
    if (ordered(k.type)) es.sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    else if (k.type === 'list') es.sort((a, b) => +a.id - +b.id);
    else es.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return es;
  }

  // number returns the number an entry's value reads as, or null: the value
  // itself, or a stream entry's first numeric field.
  function number(v) {
    if (typeof v === 'string') return v.trim() !== '' && isFinite(+v) ? +v : null;
    if (v && typeof v === 'object') {
      for (const f of Object.values(v)) if (typeof f === 'string' && f.trim() !== '' && isFinite(+f)) return +f;
    }
    return null;
  }

  function chart(es) {
    const pts = es.map((e) => [e.score, number(e.value)]).filter((p) => p[1] !== null);
    if (pts.length < 2 || pts.length < es.length / 2) return null;
    const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
    const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
    const W = 400, H = 60;
    const sx = (x) => (x1 > x0 ? ((x - x0) / (x1 - x0)) * W : W / 2);
    const sy = (y) => (y1 > y0 ? H - 4 - ((y - y0) / (y1 - y0)) * (H - 8) : H / 2);
    const svg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    svg.setAttribute('class', 'chart');
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.setAttribute('preserveAspectRatio', 'none');
    const line = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    line.setAttribute('points', pts.map((p) => sx(p[0]).toFixed(1) + ',' + sy(p[1]).toFixed(1)).join(' '));
    svg.appendChild(line);
    svg.dataset.points = String(pts.length);
    return svg;
  }

  function cell(tr, text) {
    const td = document.createElement('td');
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function card(k) {
    const sec = document.createElement('section');
    sec.className = 'key';
    sec.dataset.key = k.key;
    sec.dataset.type = k.type;
    const h = document.createElement('h2');
    h.textContent = (k.db ? k.db + ':' : '') + k.key;
    const t = document.createElement('span');
    t.className = 'type';
    t.textContent = k.type + ' (' + k.entries.size + ')';
    h.appendChild(t);
    if (k.stale) {
      const s = document.createElement('span');
      s.className = 'stale';
      s.textContent = 'stale';
      h.appendChild(s);
    }
    sec.appendChild(h);
    let es = sorted(k);
    if (ordered(k.type)) {
      const c = chart(es);
      if (c) sec.appendChild(c);
    }
    const table = document.createElement('table');
    const head = table.createTHead().insertRow();
    const cols = k.type === 'string' ? ['value'] : ordered(k.type) ? ['id', 'score', 'value'] : k.type === 'set' ? ['member'] : ['id', 'value'];
    for (const c of cols) {
      const th = document.createElement('th');
      th.textContent = c === 'id' && k.type === 'hash' ? 'field' : c === 'id' && k.type === 'list' ? 'index' : c;
      head.appendChild(th);
    }
    const body = table.createTBody();
    const shown = ordered(k.type) || k.type === 'list' ? es.slice(-ROWS).reverse() : es.slice(0, ROWS);
    for (const e of shown) {
      const tr = body.insertRow();
      tr.dataset.id = e.id;
      for (const c of cols) {
        const v = c === 'member' ? e.id : e[c];
        cell(tr, typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v)).className = c;
      }
    }
    sec.appendChild(table);
    if (es.length > shown.length) {
      const m = document.createElement('p');
      m.className = 'more';
      m.textContent = (es.length - shown.length) + ' more';
      sec.appendChild(m);
    }
    return sec;
  }

  let pending = false;
  function render() {
    pending = false;
    const cards = [...keys.values()].sort((a, b) => a.db - b.db || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map(card);
    if (!cards.length) {
      const p = document.createElement('p');
      p.id = 'empty';
      p.textContent = 'No key yet.';
      cards.push(p);
    }
    $keys.replaceChildren(...cards);
    document.getElementById('offset').textContent = 'offset ' + (offset ?? '–');
  }
  const schedule = () => { if (!pending) { pending = true; requestAnimationFrame(render); } };

  function setConn(s) { $conn.dataset.state = s; $conn.textContent = s; }

  redtapLive.connect('events' + location.search, { // ?match=... passes through
    state: setConn,
    updates: (ev) => { onUpdates(JSON.parse(ev.data)); schedule(); },
    dUpdates: (ev) => { onDUpdates(JSON.parse(ev.data)); schedule(); },
  });

  // For tests and the curious.
  window.redtap = {
    keys: () => [...keys.values()].map((k) => k.key),
    entries: (key) => { for (const k of keys.values()) if (k.key === key) return sorted(k); return null; },
    connection: () => $conn.dataset.state,
    offset: () => offset,
  };
})();
