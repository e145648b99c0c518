// A stand-in for kiosk-daemon's local API (docs/LOCAL-API.md), for the touchscreen's
// browser tests. No dependencies. It serves ui/ statically, answers /api/v1/* with a
// simulated session, and takes test hooks under /__test/* (money, faults, devices) that
// only tests/ui/control.mjs uses.
//
//   node tests/ui/stub-daemon.mjs [--port 7300]     (PORT env also works; 0 = any free port)

import http from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { loadCatalog } from './catalog.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '..', '..');
const UI_DIR = path.join(ROOT, 'ui');
const CATALOG = path.join(ROOT, 'config', 'documents.toml');

const TYPES = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.svg': 'image/svg+xml', '.png': 'image/png',
  '.ico': 'image/x-icon', '.woff2': 'font/woff2', '.txt': 'text/plain; charset=utf-8',
};
const COINS = [10, 50, 100, 500];
const NOTES = [1000, 5000, 10000, 50000];
const MAX_LINES = 5;
const MAX_COPIES = 10;
const FINGERPRINT_TRIES = 3;

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

/** A silent mono 16-bit WAV of `ms` milliseconds (the stub has no TTS engine). */
function silentWav(ms) {
  const rate = 8000;
  const samples = Math.max(1, Math.round((rate * ms) / 1000));
  const b = Buffer.alloc(44 + samples * 2);
  b.write('RIFF', 0); b.writeUInt32LE(36 + samples * 2, 4); b.write('WAVE', 8);
  b.write('fmt ', 12); b.writeUInt32LE(16, 16); b.writeUInt16LE(1, 20); b.writeUInt16LE(1, 22);
  b.writeUInt32LE(rate, 24); b.writeUInt32LE(rate * 2, 28); b.writeUInt16LE(2, 32);
  b.writeUInt16LE(16, 34); b.write('data', 36); b.writeUInt32LE(samples * 2, 40);
  return b;
}

export function createStub(opts = {}) {
  const catalog = loadCatalog(CATALOG);
  const byCode = new Map(catalog.documents.map((d) => [d.code, d]));
  const clients = new Set();
  const timers = new Set();
  let st; // everything that /__test/reset puts back

  function fresh() {
    for (const t of timers) clearTimeout(t);
    timers.clear();
    st = {
      kiosk: {
        id: 'KIOSK-DEMO-01', site: '서초구청 1층', mode: 'open', hours: '06:00-24:00',
        exact_amount_only: false, unavailable_agencies: ['court'], earphone: false,
        where_else: [
          { name: '서초구청 민원실', hours: '09:00-18:00 평일' },
          { name: '정부24', url: 'https://www.gov.kr' },
        ],
      },
      session: null,
      nextId: 1,
      networkDown: false,
      jamNext: false,
      hopperEmpty: false,
      fetchMs: 150,
      pageMs: 120,
      helpCalls: 0,
      calls: [], // method + path of every API call (no bodies: nothing personal is kept)
    };
  }
  fresh();

  function later(ms, fn) {
    const t = setTimeout(() => { timers.delete(t); fn(); broadcastState(); }, ms);
    timers.add(t);
  }

  function snapshot() {
    const k = { ...st.kiosk };
    if (k.mode !== 'out-of-service') delete k.reason;
    let session = null;
    if (st.session) {
      const { _rrn, _fees, ...s } = st.session;
      session = JSON.parse(JSON.stringify(s));
    }
    return { kiosk: k, session };
  }

  function send(res, event, data) {
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }
  function broadcastState() {
    const s = snapshot();
    for (const c of clients) send(c, 'state', s);
  }
  function broadcastDevice(d) {
    for (const c of clients) send(c, 'device', d);
  }

  function refreshMode() {
    if (st.kiosk.mode === 'out-of-hours' || st.kiosk.mode === 'restarting') return;
    if (st.networkDown) { st.kiosk.mode = 'out-of-service'; st.kiosk.reason = 'network'; }
    else { st.kiosk.mode = 'open'; delete st.kiosk.reason; }
  }

  function documentsView() {
    return {
      domains: catalog.domains,
      documents: catalog.documents.map(({ _fee, _maxPages, _order, ...d }) => ({
        ...d,
        available: !st.networkDown && !st.kiosk.unavailable_agencies.includes(d.agency),
      })),
    };
  }

  function needSession() {
    if (!st.session) throw new ApiError(404, 'no-session', 'no session');
    return st.session;
  }
  function needState(s, ...states) {
    if (!states.includes(s.state)) throw new ApiError(422, 'not-now', `not valid in ${s.state}`);
  }

  function end(reason, guidance) {
    const s = st.session;
    const fees = reason === 'done' ? s.due : s._fees || 0;
    let owed = 0;
    let back = s.inserted - fees;
    if (back > 0 && st.hopperEmpty) { owed = back; back = 0; }
    s.ended = { reason, inserted: s.inserted, fees, paid_back: back, owed };
    s.change = reason === 'done' ? Math.max(0, s.inserted - s.due) : 0;
    if (guidance !== undefined) s.guidance = guidance;
    const id = s.id;
    // The session stays visible 60 s, then the kiosk goes back to the attract screen.
    later(60_000, () => { if (st.session && st.session.id === id) st.session = null; refreshMode(); });
  }

  function cancelWith(reason, guidance) {
    const s = st.session;
    s.state = 'refunding';
    s.guidance = guidance;
    s.scanning = false;
    if (s.identity) s.identity.scanning = false;
    later(s.inserted > 0 ? 200 : 50, () => {
      if (st.session !== s) return;
      s.state = 'canceled';
      end(reason, guidance);
    });
  }

  function startFetch() {
    const s = st.session;
    s.state = 'fetching';
    s.guidance = null;
    later(st.fetchMs, () => {
      if (st.session !== s || s.state !== 'fetching') return;
      if (st.networkDown) { cancelWith('fetch-failed', { kind: 'go-elsewhere', why: 'network' }); return; }
      let due = 0;
      for (const line of s.basket) {
        const d = byCode.get(line.code);
        line.pages = line.code === 'LAND-REGISTER' ? 2 : 1;
        line.fee_per_copy = d._fee.base + (d._fee.per_extra_page || 0) * (line.pages - 1);
        due += line.fee_per_copy * line.copies;
      }
      s.due = due;
      s.printing.pages_total = s.basket.reduce((n, l) => n + l.pages * l.copies, 0);
      s.exact_amount_only = st.kiosk.exact_amount_only;
      s.state = 'awaiting-payment';
      if (due === 0) startPrinting();
    });
  }

  function startPrinting() {
    const s = st.session;
    s.state = 'printing';
    s.guidance = null;
    s._fees = s.due;
    const step = () => later(st.pageMs, () => {
      if (st.session !== s || s.state !== 'printing') return;
      if (st.jamNext) {
        st.jamNext = false;
        // Refund what was not printed: whole copies not finished are not charged.
        const perPage = s.printing.pages_total ? s.due / s.printing.pages_total : 0;
        const charged = Math.round(perPage * s.printing.pages_done / 10) * 10;
        s._fees = charged;
        const refund = s.inserted - charged;
        s.state = 'refunding';
        s.guidance = { kind: 'print-failed', fault: 'jam', refund };
        later(200, () => { s.state = 'canceled'; end('print-failed'); });
        return;
      }
      s.printing.pages_done += 1;
      if (s.printing.pages_done < s.printing.pages_total) { step(); return; }
      s.change = Math.max(0, s.inserted - s.due);
      if (s.change > 0) {
        s.state = 'paying-change';
        later(200, () => { s.state = 'done'; end('done'); });
      } else { s.state = 'done'; end('done'); }
    });
    step();
  }

  function money(won, isNote) {
    const s = st.session;
    if (!s || s.state !== 'awaiting-payment') return { accepted: false, why: 'not-accepting' };
    if (isNote) {
      if (s.inserted >= s.due) { s.guidance = { kind: 'note-returned', why: 'not-needed' }; return { accepted: false }; }
      if (s.exact_amount_only && s.inserted + won > s.due) {
        s.guidance = { kind: 'note-returned', why: 'cannot-make-change' }; return { accepted: false };
      }
    }
    s.inserted += won;
    s.change = Math.max(0, s.inserted - s.due);
    if (s.guidance && s.guidance.kind === 'note-returned') s.guidance = null;
    if (s.inserted >= s.due) startPrinting();
    return { accepted: true };
  }

  function newSession() {
    return {
      id: st.nextId++, state: 'selecting', basket: [],
      identity: { needed: false, given: false, tries_left: FINGERPRINT_TRIES, scanning: false },
      due: 0, inserted: 0, change: 0, exact_amount_only: st.kiosk.exact_amount_only,
      printing: { pages_done: 0, pages_total: 0 }, receipt: false, guidance: null, ended: null,
    };
  }

  // ---------------------------------------------------------------- the API
  const api = {
    'GET /api/v1/state': () => snapshot(),
    'GET /api/v1/documents': () => documentsView(),
    'POST /api/v1/session': () => {
      if (st.kiosk.mode !== 'open') throw new ApiError(503, 'closed', `kiosk is ${st.kiosk.mode}`);
      if (st.session) throw new ApiError(409, 'session-active', 'a session runs');
      st.session = newSession();
      return snapshot();
    },
    'POST /api/v1/session/basket': (body) => {
      if (!body || typeof body !== 'object' || Array.isArray(body)) throw new ApiError(400, 'bad-request', 'object expected');
      const allowed = ['code', 'copies', 'options', 'address'];
      for (const k of Object.keys(body)) if (!allowed.includes(k)) throw new ApiError(400, 'bad-request', `unknown field ${k}`);
      if (typeof body.code !== 'string') throw new ApiError(400, 'bad-request', 'code must be a string');
      if (body.copies !== undefined && !Number.isInteger(body.copies)) throw new ApiError(400, 'bad-request', 'copies must be an integer');
      if (body.options !== undefined && (typeof body.options !== 'object' || body.options === null || Array.isArray(body.options))) throw new ApiError(400, 'bad-request', 'options must be an object');
      if (body.address !== undefined && typeof body.address !== 'string') throw new ApiError(400, 'bad-request', 'address must be a string');
      const s = needSession();
      needState(s, 'selecting');
      const d = byCode.get(body.code);
      if (!d) throw new ApiError(422, 'unknown-document', 'no such document');
      if (st.networkDown || st.kiosk.unavailable_agencies.includes(d.agency)) throw new ApiError(422, 'document-unavailable', 'back end down');
      const copies = body.copies ?? 1;
      if (copies < 1 || copies > MAX_COPIES) throw new ApiError(422, 'bad-copies', `1 to ${MAX_COPIES}`);
      const options = {};
      for (const o of d.options) options[o.key] = o.default;
      for (const [k, v] of Object.entries(body.options || {})) {
        const o = d.options.find((x) => x.key === k);
        if (!o || typeof v !== 'string' || !o.values.some((x) => x.value === v)) throw new ApiError(422, 'bad-option', `bad option ${k}`);
        options[k] = v;
      }
      if (d.needs_address) {
        const a = (body.address || '').trim();
        if (a.length < 2 || a.length > 200) throw new ApiError(422, 'bad-address', 'an address is needed');
      } else if (body.address !== undefined) throw new ApiError(422, 'bad-address', 'this document takes no address');
      if (s.basket.length >= MAX_LINES) throw new ApiError(422, 'basket-full', `at most ${MAX_LINES} lines`);
      s.basket.push({
        line: s.basket.length, code: d.code, name: d.name, name_en: d.name_en, copies, options,
        needs_identity: d.needs_identity, fee_per_copy: null, pages: null,
      });
      s.identity.needed = s.basket.some((l) => l.needs_identity);
      return snapshot();
    },
    'POST /api/v1/session/confirm': () => {
      const s = needSession();
      needState(s, 'selecting');
      if (!s.basket.length) throw new ApiError(422, 'empty-basket', 'basket is empty');
      if (s.identity.needed) { s.state = 'identifying'; s.guidance = null; }
      else startFetch();
      return snapshot();
    },
    'POST /api/v1/session/identity': (body) => {
      if (!body || typeof body.resident_number !== 'string' || Object.keys(body).length !== 1) throw new ApiError(400, 'bad-request', 'resident_number expected');
      const s = needSession();
      needState(s, 'identifying');
      if (s.identity.given) throw new ApiError(422, 'not-now', 'already given');
      const digits = /^[0-9]{6}-?[0-9]{7}$/.test(body.resident_number) ? body.resident_number.replace('-', '') : null;
      const mm = digits && Number(digits.slice(2, 4));
      const dd = digits && Number(digits.slice(4, 6));
      if (!digits || mm < 1 || mm > 12 || dd < 1 || dd > 31) throw new ApiError(422, 'bad-resident-number', '13 digits expected');
      s._rrn = true; // kept only as "given"; never stored, never echoed
      s.identity.given = true;
      s.identity.scanning = true;
      s.guidance = { kind: 'place-finger' };
      return snapshot();
    },
    'POST /api/v1/session/more-time': () => {
      const s = needSession();
      if (!s.guidance || s.guidance.kind !== 'timeout-warning') throw new ApiError(422, 'not-now', 'no warning');
      s.guidance = s.identity.scanning ? { kind: 'place-finger' } : null;
      return snapshot();
    },
    'POST /api/v1/session/receipt': () => {
      const s = needSession();
      if (s.state === 'canceled' || (s.ended && s.ended.reason !== 'done')) throw new ApiError(422, 'not-now', 'no receipt now');
      s.receipt = true;
      return snapshot();
    },
    'POST /api/v1/session/cancel': () => {
      const s = needSession();
      if (['printing', 'paying-change', 'done'].includes(s.state)) throw new ApiError(422, 'too-late', 'printing started');
      needState(s, 'selecting', 'identifying', 'fetching', 'awaiting-payment');
      cancelWith('citizen-canceled', { kind: 'canceled' });
      return snapshot();
    },
    'POST /api/v1/session/finish': () => {
      const s = needSession();
      if (!s.ended) throw new ApiError(422, 'not-now', 'session still running');
      st.session = null;
      refreshMode();
      return snapshot();
    },
    'POST /api/v1/help': () => { st.helpCalls += 1; return { ok: true }; },
  };

  // ---------------------------------------------------------------- test hooks
  const hooks = {
    reset: () => { fresh(); },
    insert: (b) => {
      if (!COINS.includes(b.won)) throw new ApiError(400, 'bad-request', 'coin: 10, 50, 100 or 500');
      return money(b.won, false);
    },
    note: (b) => {
      if (!NOTES.includes(b.won)) throw new ApiError(400, 'bad-request', 'note: 1000, 5000, 10000 or 50000');
      return money(b.won, true);
    },
    jam: () => { st.jamNext = true; },
    network: (b) => { st.networkDown = !!b.down; refreshMode(); },
    agency: (b) => {
      const u = new Set(st.kiosk.unavailable_agencies);
      if (b.down) u.add(b.agency); else u.delete(b.agency);
      st.kiosk.unavailable_agencies = [...u];
    },
    mode: (b) => {
      if (!['open', 'out-of-hours', 'out-of-service', 'restarting'].includes(b.mode)) throw new ApiError(400, 'bad-request', 'mode');
      st.kiosk.mode = b.mode;
      if (b.mode === 'out-of-service') st.kiosk.reason = b.reason || 'printer';
      if (b.mode === 'open') refreshMode();
    },
    'exact-amount': (b) => { st.kiosk.exact_amount_only = !!b.on; if (st.session) st.session.exact_amount_only = !!b.on; },
    'hopper-empty': (b) => { st.hopperEmpty = !!b.on; },
    delays: (b) => { if (Number.isInteger(b.fetch_ms)) st.fetchMs = b.fetch_ms; if (Number.isInteger(b.page_ms)) st.pageMs = b.page_ms; },
    finger: (b) => {
      const s = st.session;
      if (!s || s.state !== 'identifying' || !s.identity.given) throw new ApiError(422, 'not-now', 'no scan running');
      if (b.match) { s.identity.scanning = false; startFetch(); return; }
      s.identity.tries_left -= 1;
      if (s.identity.tries_left <= 0) {
        s.identity.scanning = false;
        cancelWith('identity-failed', { kind: 'go-to-counter', why: 'fingerprint-not-matched' });
      } else {
        // The scanner runs again at once; the screen says how many tries are left.
        s.identity.scanning = true;
        s.guidance = { kind: 'retry-fingerprint', tries_left: s.identity.tries_left };
      }
    },
    'timeout-warning': (b) => {
      const s = needSession();
      s.guidance = { kind: 'timeout-warning', seconds_left: Number.isInteger(b.seconds) ? b.seconds : 30 };
    },
    timeout: () => {
      const s = needSession();
      if (['printing', 'paying-change', 'done', 'canceled', 'refunding'].includes(s.state)) throw new ApiError(422, 'not-now', 'no timeout now');
      cancelWith('timed-out', { kind: 'timed-out' });
    },
    earphone: (b) => { st.kiosk.earphone = !!b.inserted; broadcastDevice({ kind: 'earphone', inserted: !!b.inserted }); },
    keypad: (b) => {
      const keys = ['up', 'down', 'left', 'right', 'ok', 'back', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'help', 'volume-up', 'volume-down', 'replay'];
      if (!keys.includes(b.key)) throw new ApiError(400, 'bad-request', 'unknown key');
      broadcastDevice({ kind: 'keypad', key: b.key });
      return { ok: true, noState: true };
    },
    info: () => ({ helpCalls: st.helpCalls, calls: st.calls, session: !!st.session }),
  };

  async function readBody(req) {
    const chunks = [];
    let n = 0;
    for await (const c of req) { n += c.length; if (n > 65536) throw new ApiError(400, 'bad-request', 'body too large'); chunks.push(c); }
    if (!n) return undefined;
    try { return JSON.parse(Buffer.concat(chunks).toString('utf8')); }
    catch { throw new ApiError(400, 'bad-request', 'body is not JSON'); }
  }

  function json(res, status, obj) {
    const b = Buffer.from(JSON.stringify(obj));
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': b.length, 'cache-control': 'no-store' });
    res.end(b);
  }

  async function serveStatic(req, res, pathname) {
    let rel = decodeURIComponent(pathname);
    if (rel === '/') rel = '/index.html';
    const file = path.normalize(path.join(UI_DIR, rel));
    if (!file.startsWith(UI_DIR + path.sep)) { res.writeHead(403).end(); return; }
    try {
      const body = await readFile(file);
      res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream', 'content-length': body.length, 'cache-control': 'no-cache' });
      res.end(req.method === 'HEAD' ? undefined : body);
    } catch { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found'); }
  }

  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const p = url.pathname;
    try {
      if (p === '/api/v1/events' && req.method === 'GET') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
        clients.add(res);
        send(res, 'state', snapshot());
        const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
        req.on('close', () => { clearInterval(ping); clients.delete(res); });
        return;
      }
      if (p === '/api/v1/speech' && req.method === 'GET') {
        const lang = url.searchParams.get('lang');
        const rate = Number(url.searchParams.get('rate') ?? '1');
        const text = url.searchParams.get('text') || '';
        if (!['ko', 'en', 'zh', 'vi'].includes(lang) || !(rate >= 0.5 && rate <= 2) || !text || [...text].length > 500) {
          throw new ApiError(400, 'bad-request', 'lang, rate 0.5-2.0, text 1-500 characters');
        }
        const wav = silentWav(Math.min(400, 20 * [...text].length));
        res.writeHead(200, { 'content-type': 'audio/wav', 'content-length': wav.length, 'cache-control': 'max-age=3600' });
        res.end(wav);
        return;
      }
      if (p.startsWith('/__test/') && req.method === 'POST') {
        const h = hooks[p.slice('/__test/'.length)];
        if (!h) throw new ApiError(404, 'no-hook', 'no such hook');
        const out = h((await readBody(req)) || {}) || { ok: true };
        if (!out.noState) broadcastState();
        json(res, 200, out);
        return;
      }
      const m = /^\/api\/v1\/session\/basket\/([0-9]+)$/.exec(p);
      if (m && req.method === 'DELETE') {
        st.calls.push(`DELETE ${p}`);
        const s = needSession();
        needState(s, 'selecting');
        const i = Number(m[1]);
        if (!s.basket[i]) throw new ApiError(400, 'bad-request', 'no such line');
        s.basket.splice(i, 1);
        s.basket.forEach((l, j) => { l.line = j; });
        s.identity.needed = s.basket.some((l) => l.needs_identity);
        broadcastState();
        json(res, 200, snapshot());
        return;
      }
      const handler = api[`${req.method} ${p}`];
      if (handler) {
        st.calls.push(`${req.method} ${p}`);
        const body = req.method === 'POST' ? await readBody(req) : undefined;
        const out = handler(body);
        if (req.method === 'POST') broadcastState();
        json(res, 200, out);
        return;
      }
      if (p.startsWith('/api/')) throw new ApiError(404, 'not-found', 'no such endpoint');
      if (req.method === 'GET' || req.method === 'HEAD') { await serveStatic(req, res, p); return; }
      res.writeHead(405).end();
    } catch (e) {
      if (e instanceof ApiError) json(res, e.status, { error: e.code, message: e.message });
      else { console.error(e); json(res, 500, { error: 'internal', message: 'internal error' }); }
    }
  });

  return {
    server,
    listen(port = 0) {
      return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(`http://127.0.0.1:${server.address().port}`)));
    },
    close() {
      for (const t of timers) clearTimeout(t);
      for (const c of clients) c.end();
      server.closeAllConnections?.();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const i = process.argv.indexOf('--port');
  const port = i > 0 ? Number(process.argv[i + 1]) : Number(process.env.PORT ?? 7300);
  const stub = createStub();
  stub.listen(port).then((url) => console.log(`stub daemon at ${url}/`));
}
