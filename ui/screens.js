// One renderer per screen. Each gets the context `c` (state, local UI state, strings,
// actions) and returns {title, say, body, primary, onDigit?, onBack?}. The screen shown
// is derived from the daemon's state (screenOf); only choices not yet sent to the
// daemon (the document being set up, typed digits) live in the page.

import { h } from './dom.js';

/** Which screen the state calls for. */
export function screenOf(st, ui) {
  if (!st) return 'loading';
  const s = st.session;
  if (!s) {
    return { open: 'attract', 'out-of-hours': 'closed', 'out-of-service': 'out-of-service', restarting: 'restarting' }[st.kiosk.mode] || 'out-of-service';
  }
  switch (s.state) {
    case 'selecting':
      if (ui.sub === 'options' && ui.pick) return 'options';
      if (ui.sub === 'address' && ui.pick) return 'address';
      if (ui.sub === 'basket' && s.basket.length) return 'basket';
      return 'choose';
    case 'identifying': return s.identity.given ? 'fingerprint' : 'identity';
    case 'fetching': return 'fetching';
    case 'awaiting-payment': return ui.previewFor === s.id || s.inserted > 0 || s.due === 0 ? 'payment' : 'preview';
    case 'printing': return 'printing';
    case 'paying-change': return 'change';
    case 'refunding': return 'refunding';
    case 'done': return 'done';
    case 'canceled': return 'canceled';
    default: return 'loading';
  }
}

const btn = (label, onclick, attrs = {}) => h('button', { type: 'button', onclick, ...attrs }, label);

function elsewhereList(c) {
  const places = c.k.where_else || [];
  if (!places.length) return null;
  return h('section', { class: 'elsewhere', 'aria-labelledby': 'elsewhere-h' },
    h('h2', { id: 'elsewhere-h' }, c.t('elsewhere.title')),
    h('ul', {}, places.map((p) => h('li', {}, placeText(c, p)))));
}

export function placeText(c, p) {
  if (p.url) return c.t('elsewhere.url', { name: p.name, url: p.url.replace(/^https?:\/\//, '').replace(/\/$/, '') });
  if (p.hours) return c.t('elsewhere.hours', { name: p.name, hours: p.hours });
  return p.name;
}

function placesInline(c) {
  return (c.k.where_else || []).map((p) => placeText(c, p)).join(', ');
}

function guidanceText(c, g) {
  if (!g) return '';
  const key = g.why ? `guidance.${g.kind}.${g.why}` : `guidance.${g.kind}`;
  if (g.kind === 'print-failed') return c.t('guidance.print-failed', { n: c.money(g.refund ?? 0) });
  if (g.kind === 'note-returned') return c.t(`note.${g.why}`);
  if (g.kind === 'timeout-warning' || g.kind === 'place-finger' || g.kind === 'retry-fingerprint') return '';
  if (c.t.has(key)) return c.t(key);
  return c.t.has(`guidance.${g.kind}`) ? c.t(`guidance.${g.kind}`) : '';
}
export { guidanceText };

function figure(label, value, cls = '') {
  return h('div', { class: `figure ${cls}` }, h('dt', {}, label), h('dd', {}, value));
}

function cancelButton(c, label = c.t('identity.cancel')) {
  return btn(label, () => c.act.cancel(), { class: 'secondary', dataset: { fid: 'cancel' } });
}

// -------------------------------------------------------------------- screens

export const SCREENS = {
  loading(c) {
    return { title: c.t('app.title'), say: '', body: [h('p', { class: 'lead' }, '…')] };
  },

  attract(c) {
    const start = btn(c.t('attract.start'), () => c.act.start(), { class: 'start primary', dataset: { fid: 'start' } });
    return {
      title: c.t('attract.title'),
      say: c.t('attract.say'),
      body: [
        h('p', { class: 'lead' }, c.k.site),
        h('p', {}, c.t('attract.hours', { hours: c.k.hours })),
        start,
        h('p', { class: 'hint' }, c.t('attract.hint')),
      ],
      primary: start,
    };
  },

  choose(c) {
    const { ui } = c;
    const docs = c.catalog?.documents || [];
    const q = ui.query.trim();
    let list;
    if (q) list = docs.filter((d) => c.matches(d, q));
    else if (ui.domain === 'popular') list = docs.slice(0, 8);
    else if (ui.domain === 'all') list = docs;
    else list = docs.filter((d) => d.domain === ui.domain);
    const items = list.map((d, i) => {
      const n = i < 9 ? i + 1 : null;
      const name = c.docName(d);
      const fee = d.fee_hint ? c.t('choose.fee', { fee: c.money(d.fee_hint) }) : c.t('choose.free');
      const extra = d.available ? fee : `${c.t('choose.unavailable')}. ${c.t('choose.elsewhere', { places: placesInline(c) })}`;
      const say = [n ? c.t('key.number', { n }) : '', name, extra].filter(Boolean).join(', ');
      return h('li', {}, btn([
        n ? h('span', { class: 'num', 'aria-hidden': 'true' }, String(n)) : null,
        h('span', { class: 'name' }, name),
        h('span', { class: 'meta' }, d.available ? fee : c.t('choose.unavailable')),
        d.available ? null : h('span', { class: 'where' }, c.t('choose.elsewhere', { places: placesInline(c) })),
      ], () => (d.available ? c.act.pick(d) : c.say(say)), {
        class: `doc${d.available ? '' : ' unavailable'}`,
        'aria-disabled': d.available ? null : 'true',
        dataset: { fid: `doc-${d.code}`, n: n ?? undefined, say, code: d.code },
      }));
    });
    const filters = [['popular', c.t('choose.popular')], ['all', c.t('choose.all')],
      ...(c.catalog?.domains || []).map((d) => [d.id, c.domainName(d)])];
    const search = h('input', {
      id: 'search', type: 'search', value: ui.query, autocomplete: 'off', spellcheck: 'false',
      placeholder: c.t('choose.search.hint'), dataset: { fid: 'search' },
      oninput: (e) => { ui.query = e.target.value; c.rerender(); },
    });
    const basketN = c.s.basket.length;
    return {
      title: c.t('choose.title'),
      say: c.t('choose.say'),
      body: [
        h('p', { class: 'count', id: 'doc-count' }, q || ui.domain !== 'popular' ? c.t('choose.results', { n: list.length }) : c.t('choose.popular')),
        items.length ? h('ul', { class: 'docs', 'aria-labelledby': 'doc-count' }, items) : h('p', { class: 'lead' }, c.t('choose.none')),
        h('section', { class: 'filters', 'aria-labelledby': 'filters-h' },
          h('h2', { id: 'filters-h' }, c.t('choose.domains')),
          h('div', { class: 'chips' }, filters.map(([id, label]) => btn(label, () => { ui.domain = id; ui.query = ''; c.rerender(); c.say(label); }, {
            class: 'chip', 'aria-pressed': String(!q && ui.domain === id), dataset: { fid: `domain-${id}` },
          })))),
        h('div', { class: 'search' }, h('label', { for: 'search' }, c.t('choose.search')), search),
        h('div', { class: 'row' },
          basketN ? btn(c.t('choose.basket', { n: basketN }), () => { ui.sub = 'basket'; c.rerender(); }, { class: 'secondary', dataset: { fid: 'to-basket' } }) : null,
          btn(c.t('choose.cancel'), () => c.act.cancel(), { class: 'secondary', dataset: { fid: 'cancel' } })),
      ],
      primary: items[0]?.firstChild,
      onBack: () => (basketN ? (ui.sub = 'basket', c.rerender()) : c.act.cancel()),
    };
  },

  options(c) {
    const { ui } = c;
    const d = c.doc(ui.pick.code);
    const name = c.docName(d);
    const groups = d.options.map((o) => h('fieldset', { class: 'option' },
      h('legend', {}, c.optName(o)),
      h('div', { class: 'chips' }, o.values.map((v) => {
        const on = ui.pick.options[o.key] === v.value;
        return btn(c.optName(v), () => { ui.pick.options[o.key] = v.value; c.rerender(); c.say(`${c.optName(o)}: ${c.optName(v)}`); }, {
          class: 'chip', 'aria-pressed': String(on), dataset: { fid: `opt-${o.key}-${v.value}`, say: `${c.optName(o)}, ${c.optName(v)}${on ? `, ${c.t('pressed')}` : ''}` },
        });
      }))));
    const copies = (delta) => {
      const n = Math.max(1, Math.min(10, ui.pick.copies + delta));
      ui.pick.copies = n;
      c.rerender();
      c.say(c.t('options.copies.value', { n }));
    };
    const next = d.needs_address
      ? btn(c.t('options.next'), () => { ui.sub = 'address'; c.rerender(); }, { class: 'primary', dataset: { fid: 'next' } })
      : btn(c.t('options.add'), () => c.act.add(), { class: 'primary', dataset: { fid: 'add' } });
    return {
      title: c.t('options.title'),
      say: c.t('options.say', { doc: name }),
      body: [
        h('h2', { class: 'docname' }, name),
        groups,
        h('fieldset', { class: 'option copies' },
          h('legend', {}, c.t('options.copies')),
          h('div', { class: 'stepper' },
            btn('−', () => copies(-1), { class: 'step', 'aria-label': c.t('options.fewer'), disabled: ui.pick.copies <= 1 ? true : null, dataset: { fid: 'fewer' } }),
            h('output', { class: 'value', 'aria-live': 'off' }, c.t('options.copies.value', { n: ui.pick.copies })),
            btn('+', () => copies(1), { class: 'step', 'aria-label': c.t('options.more'), disabled: ui.pick.copies >= 10 ? true : null, dataset: { fid: 'more' } }))),
        h('div', { class: 'row' }, next,
          btn(c.t('options.back'), () => { ui.sub = 'choose'; ui.pick = null; c.rerender(); }, { class: 'secondary', dataset: { fid: 'back' } })),
      ],
      primary: next,
      onBack: () => { ui.sub = 'choose'; ui.pick = null; c.rerender(); },
      onDigit: (n) => { if (n >= 1 && n <= 9 && n <= 10) { ui.pick.copies = n; c.rerender(); c.say(c.t('options.copies.value', { n })); } },
    };
  },

  address(c) {
    const { ui } = c;
    const d = c.doc(ui.pick.code);
    const input = h('input', {
      id: 'address', type: 'text', value: ui.pick.address || '', autocomplete: 'off', spellcheck: 'false',
      'aria-describedby': 'address-example', dataset: { fid: 'address' },
      oninput: (e) => { ui.pick.address = e.target.value; },
    });
    const type = (s) => { ui.pick.address = (ui.pick.address || '') + s; c.rerender(); c.say(s === '-' ? c.t('address.hyphen') : s); };
    const add = btn(c.t('address.add'), () => c.act.add(), { class: 'primary', dataset: { fid: 'add' } });
    return {
      title: c.t('address.title'),
      say: c.t('address.say', { doc: c.docName(d) }),
      body: [
        h('h2', { class: 'docname' }, c.docName(d)),
        h('div', { class: 'field' }, h('label', { for: 'address' }, c.t('address.label')), input,
          h('p', { id: 'address-example', class: 'hint' }, c.t('address.example'))),
        ui.error ? h('p', { class: 'error', role: 'alert' }, ui.error) : null,
        h('div', { class: 'keypad small' },
          [...'1234567890'].map((k) => btn(k, () => type(k), { class: 'key', dataset: { fid: `akey-${k}` } })),
          btn('-', () => type('-'), { class: 'key', 'aria-label': c.t('address.hyphen'), dataset: { fid: 'akey-hyphen' } }),
          btn('⌫', () => { ui.pick.address = [...(ui.pick.address || '')].slice(0, -1).join(''); c.rerender(); c.say(c.t('address.delete')); },
            { class: 'key', 'aria-label': c.t('address.delete'), dataset: { fid: 'akey-del' } })),
        h('div', { class: 'row' }, add,
          btn(c.t('options.back'), () => { ui.sub = 'options'; c.rerender(); }, { class: 'secondary', dataset: { fid: 'back' } })),
      ],
      primary: input,
      onDigit: (n) => type(String(n)),
      onBack: () => { ui.sub = 'options'; c.rerender(); },
    };
  },

  basket(c) {
    const { ui, s } = c;
    const next = btn(c.t('basket.next'), () => c.act.confirm(), { class: 'primary', dataset: { fid: 'next' } });
    return {
      title: c.t('basket.title'),
      say: c.t('basket.say', { n: s.basket.length }),
      body: [
        h('ul', { class: 'lines' }, s.basket.map((l) => h('li', {},
          h('span', { class: 'name' }, c.docName(l)),
          h('span', { class: 'meta' }, [c.t('copies', { n: l.copies }), ...c.optionSummary(l)].join(' · ')),
          btn(c.t('basket.remove', { doc: c.docName(l) }), () => c.act.remove(l), { class: 'secondary small', dataset: { fid: `remove-${l.line}` } })))),
        h('div', { class: 'row' }, next,
          s.basket.length < 5 ? btn(c.t('basket.more'), () => { ui.sub = 'choose'; c.rerender(); }, { class: 'secondary', dataset: { fid: 'more' } }) : null,
          cancelButton(c, c.t('choose.cancel'))),
      ],
      primary: next,
      onBack: () => { ui.sub = 'choose'; c.rerender(); },
    };
  },

  identity(c) {
    const { ui } = c;
    const rrn = c.rrn;
    const key = (label, onclick, attrs = {}) => btn(label, onclick, { class: 'key', ...attrs });
    const digitSay = () => (rrn.length >= 6 ? c.t('identity.digitkey') : null);
    const keys = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((n) => key(String(n), () => c.act.digit(n), { dataset: { fid: `key-${n}`, say: digitSay() ?? String(n) } }));
    const ok = key(c.t('identity.ok'), () => c.act.submitRrn(), { class: 'key ok', dataset: { fid: 'key-ok' } });
    return {
      title: c.t('identity.title'),
      say: c.t('identity.say'),
      body: [
        h('p', { class: 'rrn', id: 'rrn' },
          h('span', { class: 'sr-only' }, `${c.t('identity.display')}: ${c.rrnSpoken()}`),
          h('span', { 'aria-hidden': 'true' }, c.rrnMasked())),
        ui.error ? h('p', { class: 'error', role: 'alert' }, ui.error) : null,
        h('div', { class: 'keypad', role: 'group', 'aria-label': c.t('identity.digitkey') },
          keys,
          key('⌫', () => c.act.deleteDigit(), { 'aria-label': c.t('identity.delete'), dataset: { fid: 'key-del' } }),
          key('0', () => c.act.digit(0), { dataset: { fid: 'key-0', say: digitSay() ?? '0' } }),
          ok),
        h('div', { class: 'row' }, cancelButton(c)),
      ],
      primary: ok,
      onDigit: (n) => c.act.digit(n),
      onBack: () => c.act.deleteDigit(),
    };
  },

  fingerprint(c) {
    const { s } = c;
    const retry = s.guidance?.kind === 'retry-fingerprint';
    const text = retry ? c.t('fingerprint.retry', { n: s.guidance.tries_left }) : c.t('fingerprint.say');
    return {
      title: c.t('fingerprint.title'),
      say: `${text} ${c.t('fingerprint.where')}`,
      sayKey: retry ? `retry-${s.guidance.tries_left}` : 'place',
      body: [
        h('div', { class: 'finger', 'aria-hidden': 'true' }),
        h('p', { class: 'lead', role: 'status' }, text),
        h('p', {}, c.t('fingerprint.tries', { n: s.identity.tries_left })),
        h('p', { class: 'hint' }, c.t('fingerprint.where')),
        h('div', { class: 'row' }, cancelButton(c)),
      ],
      primary: null,
    };
  },

  fetching(c) {
    return {
      title: c.t('fetching.title'),
      say: c.t('fetching.say'),
      body: [h('div', { class: 'wait', 'aria-hidden': 'true' }), h('p', { class: 'lead' }, c.t('fetching.say')), h('div', { class: 'row' }, cancelButton(c))],
      primary: null,
    };
  },

  preview(c) {
    const { s } = c;
    const lines = s.basket.map((l) => c.t('preview.line', {
      doc: c.docName(l), copies: c.t('copies', { n: l.copies }), pages: c.t('pages', { n: (l.pages ?? 0) * l.copies }), fee: c.money(l.fee_per_copy ?? 0),
    }));
    const pay = btn(c.t('preview.pay'), () => c.act.toPayment(), { class: 'primary', dataset: { fid: 'pay' } });
    return {
      title: c.t('preview.title'),
      say: c.t('preview.say', { docs: lines.join('; '), due: c.money(s.due) }),
      body: [
        h('ul', { class: 'lines' }, s.basket.map((l, i) => h('li', {},
          h('span', { class: 'name' }, c.docName(l)),
          h('span', { class: 'meta' }, lines[i].split(', ').slice(1).join(' · ')),
          h('span', { class: 'amount' }, c.money((l.fee_per_copy ?? 0) * l.copies))))),
        h('dl', { class: 'figures' }, figure(c.t('preview.total'), c.money(s.due), 'big')),
        h('div', { class: 'row' }, pay, cancelButton(c)),
      ],
      primary: pay,
      onBack: () => c.act.cancel(),
    };
  },

  payment(c) {
    const { s } = c;
    const rest = Math.max(0, s.due - s.inserted);
    const g = s.guidance?.kind === 'note-returned' ? s.guidance : null;
    const exact = s.exact_amount_only || c.k.exact_amount_only;
    const receipt = btn(c.t('payment.receipt'), () => c.act.receipt(), {
      class: 'secondary', 'aria-pressed': String(!!s.receipt), dataset: { fid: 'receipt' },
    });
    return {
      title: c.t('payment.title'),
      say: [c.t('payment.say', { due: c.money(rest) }), exact ? c.t('payment.exact') : ''].join(' '),
      body: [
        exact ? h('p', { class: 'banner', role: 'alert', id: 'exact' }, c.t('payment.exact')) : null,
        h('dl', { class: 'figures' },
          figure(c.t('payment.due'), c.money(s.due)),
          figure(c.t('payment.inserted'), c.money(s.inserted)),
          figure(c.t('payment.remaining'), c.money(rest), 'big'),
          s.change > 0 ? figure(c.t('payment.change'), c.money(s.change)) : null),
        g ? h('p', { class: 'error', role: 'alert' }, c.t(`note.${g.why}`)) : null,
        h('p', { class: 'hint' }, c.t('payment.accepts')),
        h('div', { class: 'row' }, receipt, cancelButton(c, c.t('payment.cancel'))),
      ],
      primary: receipt,
      onBack: () => c.act.cancel(),
    };
  },

  printing(c) {
    const p = c.s.printing;
    const text = c.t('printing.progress', { done: p.pages_done, total: p.pages_total });
    return {
      title: c.t('printing.title'),
      say: c.t('printing.say'),
      body: [
        h('p', { class: 'lead' }, c.t('printing.say')),
        h('progress', { max: String(Math.max(1, p.pages_total)), value: String(p.pages_done), 'aria-label': c.t('printing.progress.label'), 'aria-valuetext': text }),
        h('p', { class: 'progress-text', role: 'status' }, text),
      ],
      primary: null,
    };
  },

  change(c) {
    return {
      title: c.t('change.title'),
      say: c.t('change.say', { n: c.money(c.s.change) }),
      body: [h('p', { class: 'lead' }, c.t('change.say', { n: c.money(c.s.change) }))],
      primary: null,
    };
  },

  done(c) {
    const { s } = c;
    const e = s.ended || { paid_back: s.change, owed: 0 };
    // A copy the printer could not print is told in words and speech, with its refund.
    const fault = s.guidance?.kind === 'print-failed' ? guidanceText(c, s.guidance) : null;
    const msgs = [c.t('done.say')];
    if (fault) msgs.push(fault);
    const change = e.paid_back > 0 ? c.t('done.change', { n: c.money(e.paid_back) }) : null;
    if (change) msgs.push(change);
    if (e.owed > 0) msgs.push(c.t('done.iou', { n: c.money(e.owed) }));
    const finish = btn(c.t('done.finish'), () => c.act.finish(), { class: 'primary', dataset: { fid: 'finish' } });
    return {
      title: c.t('done.title'),
      say: msgs.join(' '),
      body: [
        h('p', { class: 'lead' }, msgs[0]),
        fault ? h('p', { class: 'banner', role: 'alert', id: 'print-failed' }, fault) : null,
        change ? h('p', { class: 'lead', id: 'change-msg' }, change) : null,
        e.owed > 0 ? h('p', { class: 'banner', role: 'alert', id: 'iou' }, c.t('done.iou', { n: c.money(e.owed) })) : null,
        s.receipt ? h('p', { id: 'receipt-msg' }, c.t('done.receipt.yes')) : null,
        h('div', { class: 'row' }, finish,
          s.receipt ? null : btn(c.t('done.receipt'), () => c.act.receipt(), { class: 'secondary', dataset: { fid: 'receipt' } })),
      ],
      primary: finish,
    };
  },

  refunding(c) {
    const g = guidanceText(c, c.s.guidance);
    return {
      title: c.t('refunding.title'),
      say: [g, c.t('refunding.say')].filter(Boolean).join(' '),
      body: [g ? h('p', { class: 'lead' }, g) : null, h('p', { class: 'lead' }, c.t('refunding.say'))],
      primary: null,
    };
  },

  canceled(c) {
    const { s } = c;
    const e = s.ended || { reason: 'citizen-canceled', paid_back: s.inserted, owed: 0 };
    const g = guidanceText(c, s.guidance);
    const msgs = [c.t(`canceled.${e.reason}`)];
    if (g && g !== msgs[0]) msgs.push(g);
    if (e.paid_back > 0) msgs.push(c.t('canceled.refund', { n: c.money(e.paid_back) }));
    if (e.owed > 0) msgs.push(c.t('done.iou', { n: c.money(e.owed) }));
    const goElsewhere = ['fetch-failed', 'cannot-serve', 'identity-unavailable', 'print-failed'].includes(e.reason) || s.guidance?.kind === 'go-elsewhere';
    const places = goElsewhere ? (c.k.where_else || []).map((p) => placeText(c, p)) : [];
    const finish = btn(c.t('canceled.finish'), () => c.act.finish(), { class: 'primary', dataset: { fid: 'finish' } });
    return {
      title: c.t('canceled.title'),
      say: [...msgs, places.length ? `${c.t('elsewhere.title')}: ${places.join(', ')}` : ''].join(' '),
      body: [
        msgs.map((m) => h('p', { class: 'lead' }, m)),
        goElsewhere ? elsewhereList(c) : null,
        h('div', { class: 'row' }, finish),
      ],
      primary: finish,
    };
  },

  closed(c) {
    const places = (c.k.where_else || []).map((p) => placeText(c, p));
    return {
      title: c.t('closed.title'),
      say: `${c.t('closed.say', { hours: c.k.hours })} ${c.t('elsewhere.title')}: ${places.join(', ')}`,
      body: [h('p', { class: 'lead' }, c.t('closed.say', { hours: c.k.hours })), elsewhereList(c)],
      primary: null,
    };
  },

  'out-of-service'(c) {
    const places = (c.k.where_else || []).map((p) => placeText(c, p));
    const reason = c.k.reason && c.t.has(`service.reason.${c.k.reason}`) ? c.t(`service.reason.${c.k.reason}`) : '';
    return {
      title: c.t('service.title'),
      say: [c.t('service.say'), reason, `${c.t('elsewhere.title')}: ${places.join(', ')}`].filter(Boolean).join(' '),
      body: [h('p', { class: 'lead' }, c.t('service.say')), reason ? h('p', {}, reason) : null, elsewhereList(c)],
      primary: null,
    };
  },

  restarting(c) {
    return {
      title: c.t('restarting.title'),
      say: c.t('restarting.say'),
      body: [h('p', { class: 'lead' }, c.t('restarting.say')), elsewhereList(c)],
      primary: null,
    };
  },
};
