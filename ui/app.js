// The touchscreen. Renders from the daemon's state (GET /api/v1/state and the SSE stream
// /api/v1/events) and acts only through the POST endpoints of docs/LOCAL-API.md.

import { h, spokenLabel } from './dom.js';
import { LANGS, loadLanguage, translator } from './i18n.js';
import { Voice } from './speech.js';
import { loadKeymap, listenKeyboard, actionOf, moveFocus } from './keys.js';
import { SCREENS, screenOf, guidanceText } from './screens.js';

const $ = (sel) => document.querySelector(sel);
// Each language's own name, shown on its button whatever the current language.
const LANGUAGE_NAMES = { ko: '한국어', en: 'English', zh: '中文', vi: 'Tiếng Việt' };
const root = document.documentElement;

// ------------------------------------------------------------------ page state
let state = null; // the daemon's snapshot: never changed here, only replaced
let catalog = null;
let catalogKey = '';
let stateSeq = 0; // counts snapshots received, to drop POST answers older than an event
const ui = freshUi();
const prefs = { lang: 'ko', zoom: false, low: false, contrast: false };
let voiceBeforeEarphone = null;
let rrnDigits = []; // the resident number while it is typed: never logged, never spoken
let current = { name: null, def: null, sayKey: null };
let lastGuidance = 'null';
let lastInserted = 0;
let sessionId = null;
let pendingTouch = null;
let quietFocus = false;
let offlineTimer = null;
const perf = [];
window.__kiosk = { perf, keys: 0, screen: () => current.name };

function freshUi() {
  return { sub: 'choose', pick: null, domain: 'popular', query: '', previewFor: null, error: null };
}

let t = null;
const voice = new Voice({ log: $('#speech-log'), audio: $('#voice'), onChange: () => renderChrome() });

// ------------------------------------------------------------------ API
async function call(method, path, body) {
  const seq = stateSeq;
  let r;
  try {
    r = await fetch(path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw Object.assign(new Error('network'), { code: 'network' });
  }
  const j = await r.json().catch(() => ({}));
  if (!r.ok) throw Object.assign(new Error(j.message || String(r.status)), { code: j.error || 'generic', status: r.status });
  // The answer carries the new state; it is used only if no newer event came meanwhile.
  if (j && j.kiosk && seq === stateSeq) applyState(j);
  return j;
}

function fail(e) {
  const key = `error.${e.code}`;
  const msg = t.has(key) ? t(key) : t('error.generic');
  ui.error = msg;
  say(msg);
  render();
}

const act = {
  async start() {
    try { await call('POST', '/api/v1/session'); } catch (e) { if (e.code !== 'session-active') fail(e); }
  },
  pick(d) {
    const options = {};
    for (const o of d.options || []) options[o.key] = o.default;
    ui.pick = { code: d.code, copies: 1, options, address: '' };
    ui.sub = 'options';
    ui.error = null;
    render();
  },
  async add() {
    const d = docByCode(ui.pick.code);
    const body = { code: d.code, copies: ui.pick.copies, options: { ...ui.pick.options } };
    if (d.needs_address) {
      const a = (ui.pick.address || '').trim();
      if (a.length < 2 || a.length > 200 || !/[0-9]/.test(a) || !/[^0-9\s-]/.test(a)) {
        ui.error = t('address.invalid'); say(ui.error); render(); return;
      }
      body.address = a;
    }
    try {
      await call('POST', '/api/v1/session/basket', body);
      ui.pick = null; ui.sub = 'basket'; ui.error = null; ui.query = '';
      render();
    } catch (e) { fail(e); }
  },
  async remove(line) {
    try { await call('DELETE', `/api/v1/session/basket/${line.line}`); say(t('basket.removed', { doc: docName(line) })); } catch (e) { fail(e); }
  },
  async confirm() { try { await call('POST', '/api/v1/session/confirm'); } catch (e) { fail(e); } },
  async cancel() { try { await call('POST', '/api/v1/session/cancel'); } catch (e) { fail(e); } },
  async finish() { try { await call('POST', '/api/v1/session/finish'); } catch (e) { fail(e); } },
  async receipt() {
    try { await call('POST', '/api/v1/session/receipt'); say(t('done.receipt.yes')); } catch (e) { fail(e); }
  },
  async moreTime() { try { await call('POST', '/api/v1/session/more-time'); } catch (e) { fail(e); } },
  async help() {
    try { await call('POST', '/api/v1/help'); say(t('help.called')); } catch { say(t('help.failed')); }
  },
  toPayment() { ui.previewFor = state.session.id; render(); },
  digit(n) {
    if (rrnDigits.length >= 13) return;
    rrnDigits.push(n);
    ui.error = null;
    const len = rrnDigits.length;
    render();
    say(len <= 6 ? t('identity.front', { n: len }) : t('identity.back', { n: len - 6 }));
    if (len === 13) say(t('identity.done'));
  },
  deleteDigit() {
    if (!rrnDigits.length) return;
    rrnDigits.pop();
    render();
    say(t('identity.deleted'));
  },
  async submitRrn() {
    if (rrnDigits.length !== 13) { ui.error = t('identity.incomplete'); say(ui.error); render(); return; }
    const d = rrnDigits.join('');
    const mm = Number(d.slice(2, 4));
    const dd = Number(d.slice(4, 6));
    rrnDigits = [];
    if (mm < 1 || mm > 12 || dd < 1 || dd > 31) { ui.error = t('identity.invalid'); say(ui.error); render(); return; }
    try { await call('POST', '/api/v1/session/identity', { resident_number: `${d.slice(0, 6)}-${d.slice(6)}` }); }
    catch (e) { render(); fail(e); }
  },
};

// ------------------------------------------------------------------ helpers for screens
function docByCode(code) { return catalog?.documents.find((d) => d.code === code); }
function docName(d) {
  if (!d) return '';
  if (t.lang !== 'ko') return d.name_en || docByCode(d.code)?.name_en || d.name;
  return d.name;
}
function optName(o) { return t.lang !== 'ko' && o.name_en ? o.name_en : o.name; }
function domainName(d) {
  if (t.lang === 'ko') return d.name;
  return t.has(`domain.${d.id}`) ? t(`domain.${d.id}`) : d.name_en || d.name;
}
function optionSummary(line) {
  const d = docByCode(line.code);
  return Object.entries(line.options || {}).map(([k, v]) => {
    const o = d?.options.find((x) => x.key === k);
    const val = o?.values.find((x) => x.value === v);
    return o && val ? `${optName(o)}: ${optName(val)}` : `${k}: ${v}`;
  });
}

// Initial consonants, so that "ㅈㅁ" finds 주민등록.
const CHO = 'ㄱㄲㄴㄷㄸㄹㅁㅂㅃㅅㅆㅇㅈㅉㅊㅋㅌㅍㅎ';
function initials(s) {
  return [...s].map((ch) => { const c = ch.codePointAt(0) - 0xac00; return c >= 0 && c < 11172 ? CHO[Math.floor(c / 588)] : ch; }).join('');
}
function matches(d, q) {
  const norm = (s) => (s || '').toLowerCase().replace(/\s+/g, '');
  const nq = norm(q);
  return [d.name, d.name_en, d.code].some((s) => norm(s).includes(nq)) || initials(norm(d.name)).includes(nq);
}

function rrnMasked() {
  const d = rrnDigits;
  const front = Array.from({ length: 6 }, (_, i) => (i < d.length ? String(d[i]) : '_')).join('');
  const back = Array.from({ length: 7 }, (_, i) => {
    const k = 6 + i;
    if (k >= d.length) return '_';
    return i === 0 ? String(d[k]) : '●';
  }).join('');
  return `${front}-${back}`;
}
function rrnSpoken() {
  const n = rrnDigits.length;
  return n <= 6 ? t('identity.front', { n }) : `${t('identity.front', { n: 6 })}, ${t('identity.back', { n: n - 6 })}`;
}

function say(text, opts = {}) { voice.say(text, { lang: prefs.lang, ...opts }); }

// ------------------------------------------------------------------ rendering
function context() {
  return {
    st: state, s: state?.session, k: state?.kiosk, ui, t, act, catalog,
    money: t.money, docName, optName, domainName, optionSummary, matches, doc: docByCode,
    rrn: rrnDigits, rrnMasked, rrnSpoken,
    say: (x) => say(x), rerender: () => render(),
  };
}

function render() {
  const name = screenOf(state, ui);
  const def = (SCREENS[name] || SCREENS.loading)(context());
  const changed = name !== current.name;
  const sayKey = def.sayKey || null;
  const focusedFid = document.activeElement?.dataset?.fid;
  const prevSayKey = current.sayKey;
  const main = $('#main');
  $('#title').textContent = def.title;
  $('#display-title').textContent = def.title;
  document.title = `${def.title} - ${t('app.title')}`;
  $('#screen').replaceChildren(...def.body.flat().filter(Boolean));
  document.body.dataset.screen = name;
  main.dataset.screen = name;
  current = { name, def, sayKey };

  quietFocus = true;
  if (changed) {
    const target = def.primary || $('#title');
    target.focus({ preventScroll: true });
    window.scrollTo(0, 0);
    $('#app').scrollTop = 0;
    voice.stop();
    say(`${def.title}. ${def.say}`.trim(), { remember: true, interrupt: true });
    if (def.primary) say(labelFor(def.primary));
    notePaint(name);
  } else {
    const again = focusedFid && main.querySelector(`[data-fid="${CSS.escape(focusedFid)}"]`);
    if (again) {
      again.focus({ preventScroll: true });
      if (again instanceof HTMLInputElement) { const n = again.value.length; again.setSelectionRange?.(n, n); }
    }
    if (sayKey && sayKey !== prevSayKey) say(def.say, { remember: true, interrupt: true });
  }
  quietFocus = false;
  renderDialog();
}

function labelFor(el) {
  let text = spokenLabel(el);
  if (el.id && el.matches('input')) text = `${document.querySelector(`label[for="${el.id}"]`)?.textContent || ''} ${el.value}`.trim();
  if (el.getAttribute('aria-pressed') === 'true' && !el.dataset.say) text += `, ${t('pressed')}`;
  if (el.getAttribute('aria-disabled') === 'true' && !el.dataset.say) text += `, ${t('role.disabled')}`;
  return text;
}

function notePaint(to) {
  const p = pendingTouch;
  pendingTouch = null;
  if (!p || performance.now() - p.t0 > 3000) return;
  requestAnimationFrame(() => setTimeout(() => {
    const ms = performance.now() - p.t0;
    perf.push({ from: p.from, to, ms: Math.round(ms * 10) / 10, via: p.via });
    try { performance.measure(`touch→paint ${p.from}→${to}`, { start: p.t0, end: p.t0 + ms }); } catch { /* older engines */ }
  }, 0));
}
function markTouch(via) {
  pendingTouch = { t0: performance.now(), from: current.name, via };
  performance.mark(`touch:${via}`);
}

function renderDialog() {
  const dlg = $('#timeout-dialog');
  const g = state?.session?.guidance;
  if (g && g.kind === 'timeout-warning') {
    const more = h('button', { type: 'button', class: 'primary', onclick: () => act.moreTime(), dataset: { fid: 'more-time' } }, t('timeout.more'));
    const text = t('timeout.say', { n: g.seconds_left });
    dlg.replaceChildren(h('h2', { id: 'timeout-title' }, t('timeout.title')), h('p', { id: 'timeout-text' }, text), more);
    if (!dlg.open) {
      dlg.showModal();
      quietFocus = true;
      more.focus();
      quietFocus = false;
      say(`${t('timeout.title')} ${text}`, { interrupt: true });
      say(labelFor(more));
    } else {
      more.focus();
    }
  } else if (dlg.open) {
    dlg.close();
    quietFocus = true;
    (current.def?.primary || $('#title')).focus();
    quietFocus = false;
  }
}

function renderChrome() {
  if (!t) return;
  root.lang = prefs.lang;
  root.classList.toggle('zoom', prefs.zoom);
  root.classList.toggle('low', prefs.low);
  root.classList.toggle('hc', prefs.contrast);
  const fid = document.activeElement?.dataset?.fid;
  const tb = (label, on, onclick, fidName, attrs = {}) => h('button', {
    type: 'button', class: 'tool', onclick, 'aria-pressed': on === null ? null : String(on), dataset: { fid: fidName }, ...attrs,
  }, label);
  $('#langs').replaceChildren(...LANGS.map((l) => h('button', {
    type: 'button', class: 'lang', lang: l, 'aria-pressed': String(prefs.lang === l), dataset: { fid: `lang-${l}` },
    onclick: () => setLanguage(l),
  }, LANGUAGE_NAMES[l])));
  $('#langs').setAttribute('aria-label', t('header.languages'));
  $('#help').textContent = t('help');
  $('#site').textContent = state?.kiosk?.site || '';
  $('#tools').setAttribute('aria-label', t('tools.label'));
  $('#tools').replaceChildren(
    tb(voice.on ? t('tools.voice.on') : t('tools.voice.off'), voice.on, () => { voice.setOn(!voice.on); say(voice.on ? t('tools.voice.on') : t('tools.voice.off')); }, 'voice'),
    h('div', { class: 'pair' },
      tb('−', null, () => changeVolume(-10), 'vol-down', { 'aria-label': t('tools.volume.down') }),
      h('span', { class: 'value', id: 'volume' }, t('tools.volume.value', { n: voice.volume })),
      tb('+', null, () => changeVolume(10), 'vol-up', { 'aria-label': t('tools.volume.up') })),
    h('div', { class: 'pair' },
      tb('−', null, () => changeRate(-0.25), 'rate-down', { 'aria-label': t('tools.rate.down') }),
      h('span', { class: 'value', id: 'rate' }, t('tools.rate.value', { n: voice.rate.toFixed(2) })),
      tb('+', null, () => changeRate(0.25), 'rate-up', { 'aria-label': t('tools.rate.up') })),
    tb(t('tools.replay'), null, () => voice.replay(), 'replay'),
    tb(t('tools.stop'), null, () => voice.stop(), 'stop'),
    tb(t('tools.zoom'), prefs.zoom, () => toggleMode('zoom', 'tools.zoom'), 'zoom'),
    tb(t('tools.low'), prefs.low, () => toggleMode('low', 'tools.low'), 'low'),
    tb(t('tools.contrast'), prefs.contrast, () => toggleMode('contrast', 'tools.contrast'), 'contrast'),
  );
  $('#display').setAttribute('aria-label', t('caption.label'));
  const ind = $('#earphone');
  ind.hidden = !voice.private;
  ind.textContent = t('earphone.private');
  if (fid) {
    const again = document.querySelector(`#top [data-fid="${CSS.escape(fid)}"], #tools [data-fid="${CSS.escape(fid)}"]`);
    if (again && again !== document.activeElement) { quietFocus = true; again.focus({ preventScroll: true }); quietFocus = false; }
  }
}

function changeVolume(d) { voice.setVolume(voice.volume + d); say(t('tools.volume.value', { n: voice.volume })); }
function changeRate(d) { voice.setRate(voice.rate + d); say(t('tools.rate.value', { n: voice.rate.toFixed(2) })); }
function toggleMode(k, label) {
  prefs[k] = !prefs[k];
  renderChrome();
  say(`${t(label)} ${prefs[k] ? t('state.on') : t('state.off')}`);
}
async function setLanguage(l) {
  try { await loadLanguage(l); } catch { return; }
  prefs.lang = l;
  t = translator(l);
  renderChrome();
  current.name = null; // speak the screen again in the new language
  render();
}

// ------------------------------------------------------------------ state and events
function applyState(next) {
  stateSeq++;
  const prev = state;
  state = next;
  const s = next.session;
  if (s && s.id !== sessionId) { Object.assign(ui, freshUi()); rrnDigits = []; lastInserted = 0; }
  if (!s && sessionId !== null && prev?.session) {
    // The citizen is gone: the next one starts in Korean with the default display.
    Object.assign(ui, freshUi());
    rrnDigits = [];
    Object.assign(prefs, { lang: 'ko', zoom: false, low: false, contrast: false });
    t = translator('ko');
  }
  sessionId = s ? s.id : null;
  if (s?.state !== 'identifying') rrnDigits = [];
  if (prev?.kiosk?.earphone !== next.kiosk.earphone && next.kiosk.earphone !== voice.private) setEarphone(next.kiosk.earphone);
  refreshCatalog();
  renderChrome();
  const before = current.name;
  render();
  // Things to say that do not change the screen.
  const g = JSON.stringify(s?.guidance ?? null);
  if (current.name === before && g !== lastGuidance && s?.guidance) {
    const text = guidanceText(context(), s.guidance);
    if (text) say(text, { interrupt: true });
  }
  lastGuidance = g;
  if (s && current.name === before && before === 'payment' && s.inserted > lastInserted) {
    say(t('payment.inserted.say', { n: t.money(s.inserted - lastInserted), rest: t.money(Math.max(0, s.due - s.inserted)) }));
  }
  if (current.name === before && before === 'printing' && prev?.session?.printing?.pages_done !== s?.printing?.pages_done) {
    say(t('printing.progress', { done: s.printing.pages_done, total: s.printing.pages_total }));
  }
  lastInserted = s?.inserted ?? 0;
}

async function refreshCatalog() {
  const k = state ? `${state.kiosk.mode}|${state.kiosk.unavailable_agencies.join(',')}|${state.session?.id ?? ''}` : '';
  if (k === catalogKey) return;
  catalogKey = k;
  try {
    const r = await fetch('/api/v1/documents');
    if (r.ok) { catalog = await r.json(); if (current.name === 'choose' || current.name === 'options') render(); }
  } catch { /* stays as it was; the next state retries */ catalogKey = ''; }
}

function setEarphone(inserted) {
  if (inserted === voice.private) return;
  if (inserted) {
    voiceBeforeEarphone = voice.on;
    voice.private = true;
    voice.setOn(true);
    say(t('earphone.in'), { interrupt: true });
    if (current.def) say(`${current.def.title}. ${current.def.say}`);
  } else {
    voice.private = false;
    voice.setOn(voiceBeforeEarphone ?? false);
    say(t('earphone.out'));
  }
  renderChrome();
}

function onDevice(d) {
  if (d.kind === 'earphone') setEarphone(!!d.inserted);
  else if (d.kind === 'keypad' && typeof d.key === 'string') { onKey(d.key, 'keypad'); window.__kiosk.keys++; }
}

function connect() {
  const es = new EventSource('/api/v1/events');
  es.addEventListener('state', (e) => { try { applyState(JSON.parse(e.data)); } catch { /* a bad event changes nothing */ } });
  es.addEventListener('device', (e) => { try { onDevice(JSON.parse(e.data)); } catch { /* ignored */ } });
  es.onopen = () => { clearTimeout(offlineTimer); offlineTimer = null; $('#offline').hidden = true; };
  es.onerror = () => {
    if (!offlineTimer) offlineTimer = setTimeout(() => { $('#offline').hidden = false; $('#offline').textContent = t('error.network'); }, 3000);
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 1000);
  };
}

// ------------------------------------------------------------------ keys
function onKey(key, via) {
  const action = actionOf(key);
  if (!action) return;
  markTouch(via === 'keypad' ? 'keypad' : 'key');
  const dlgOpen = $('#timeout-dialog').open;
  switch (action) {
    case 'focus-previous': moveFocus(-1); break;
    case 'focus-next': moveFocus(1); break;
    case 'activate': {
      const el = document.activeElement;
      if (el && el.matches('button, a[href]')) el.click();
      else if (el && el.id === 'search') moveFocus(1);
      else if (el && el.id === 'address') act.add();
      else if (!dlgOpen) current.def?.primary?.click();
      break;
    }
    case 'back':
      if (dlgOpen) act.moreTime();
      else current.def?.onBack?.();
      break;
    case 'digit': {
      if (dlgOpen) break;
      const n = Number(key);
      if (current.def?.onDigit) current.def.onDigit(n);
      else {
        const el = $('#screen').querySelector(`[data-n="${n}"]`);
        if (el) { el.focus(); el.click(); }
      }
      break;
    }
    case 'help': act.help(); break;
    case 'volume-up': changeVolume(10); break;
    case 'volume-down': changeVolume(-10); break;
    case 'replay': voice.replay(); break;
    default: break;
  }
}

// ------------------------------------------------------------------ start
async function boot() {
  await Promise.all([loadLanguage('ko'), loadKeymap()]);
  t = translator('ko');
  listenKeyboard((key) => onKey(key, 'keyboard'));
  document.addEventListener('pointerdown', () => markTouch('touch'), { capture: true });
  document.addEventListener('focusin', (e) => {
    if (quietFocus || !(e.target instanceof HTMLElement) || e.target.id === 'title') return;
    say(labelFor(e.target));
  });
  $('#help').addEventListener('click', () => act.help());
  renderChrome();
  render();
  try {
    const r = await fetch('/api/v1/state');
    if (r.ok) applyState(await r.json());
  } catch { /* the event stream brings the state */ }
  connect();
}

boot();
