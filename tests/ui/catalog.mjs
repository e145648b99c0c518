// Reads config/documents.toml (the 66 document types) for the stub daemon.
// A small reader for the subset of TOML that file uses: comments, [[table]] and
// [[table.sub]] headers, key = string | integer | boolean | inline table | array
// (arrays may span lines). No dependencies.

import { readFileSync } from 'node:fs';

function parseValue(src, pos) {
  const skip = () => {
    while (pos.i < src.length) {
      const c = src[pos.i];
      if (c === ' ' || c === '\t' || c === '\n' || c === '\r') pos.i++;
      else if (c === '#') { while (pos.i < src.length && src[pos.i] !== '\n') pos.i++; }
      else break;
    }
  };
  skip();
  const c = src[pos.i];
  if (c === '"') {
    let out = '';
    pos.i++;
    while (src[pos.i] !== '"') {
      if (pos.i >= src.length) throw new Error('unterminated string');
      if (src[pos.i] === '\\') {
        const e = src[pos.i + 1];
        out += e === 'n' ? '\n' : e === 't' ? '\t' : e;
        pos.i += 2;
      } else out += src[pos.i++];
    }
    pos.i++;
    return out;
  }
  if (c === '[') {
    pos.i++;
    const arr = [];
    for (;;) {
      skip();
      if (src[pos.i] === ']') { pos.i++; return arr; }
      arr.push(parseValue(src, pos));
      skip();
      if (src[pos.i] === ',') pos.i++;
    }
  }
  if (c === '{') {
    pos.i++;
    const obj = {};
    for (;;) {
      skip();
      if (src[pos.i] === '}') { pos.i++; return obj; }
      const m = /^([A-Za-z0-9_-]+)\s*=/.exec(src.slice(pos.i));
      if (!m) throw new Error('bad inline table at ' + src.slice(pos.i, pos.i + 30));
      pos.i += m[0].length;
      obj[m[1]] = parseValue(src, pos);
      skip();
      if (src[pos.i] === ',') pos.i++;
    }
  }
  const m = /^(true|false|-?[0-9][0-9_]*|[0-9]{4}-[0-9]{2}-[0-9]{2})/.exec(src.slice(pos.i));
  if (!m) throw new Error('bad value at ' + src.slice(pos.i, pos.i + 30));
  pos.i += m[0].length;
  if (m[1] === 'true') return true;
  if (m[1] === 'false') return false;
  if (/^[0-9]{4}-/.test(m[1])) return m[1];
  return Number(m[1].replace(/_/g, ''));
}

/** Parses the TOML subset into {agency: [...], domain: [...], document: [...], ...}. */
export function parseTomlSubset(text) {
  const root = {};
  let current = root;
  const pos = { i: 0 };
  while (pos.i < text.length) {
    const lineEnd = text.indexOf('\n', pos.i) === -1 ? text.length : text.indexOf('\n', pos.i);
    const line = text.slice(pos.i, lineEnd).trim();
    if (line === '' || line.startsWith('#')) { pos.i = lineEnd + 1; continue; }
    let m = /^\[\[([A-Za-z0-9_.-]+)\]\]/.exec(line);
    if (m) {
      const parts = m[1].split('.');
      if (parts.length === 1) {
        (root[parts[0]] ||= []).push((current = {}));
      } else {
        const parentList = root[parts[0]];
        const parent = parentList[parentList.length - 1];
        (parent[parts[1]] ||= []).push((current = {}));
      }
      pos.i = lineEnd + 1;
      continue;
    }
    m = /^\[([A-Za-z0-9_.-]+)\]/.exec(line);
    if (m) { current = root[m[1]] = {}; pos.i = lineEnd + 1; continue; }
    const start = text.indexOf(line, pos.i);
    m = /^([A-Za-z0-9_-]+)\s*=/.exec(line);
    if (!m) throw new Error('cannot read line: ' + line);
    pos.i = start + m[0].length;
    current[m[1]] = parseValue(text, pos);
    const nl = text.indexOf('\n', pos.i);
    pos.i = nl === -1 ? text.length : nl + 1;
  }
  return root;
}

// How often each type is asked for at a typical district office (stub figures: the
// real daemon orders by its own statistics). Unlisted types follow in file order.
const MOST_USED = ['RES-COPY', 'RES-ABSTRACT', 'FAM-RELATION', 'LAND-REGISTER', 'BLDG-GENERAL',
  'FAM-BASIC', 'NHIS-ELIGIBILITY', 'LTAX-PAYMENT', 'NTS-INCOME', 'REG-REAL-ESTATE'];

/** The catalog as `GET /api/v1/documents` answers it (before availability is applied). */
export function loadCatalog(path) {
  const t = parseTomlSubset(readFileSync(path, 'utf8'));
  const domains = t.domain.map((d) => ({ id: d.code, name: d.name_ko, name_en: d.name_en }));
  const docs = t.document.map((d, i) => ({
    code: d.code,
    name: d.name_ko,
    name_en: d.name_en,
    domain: d.domain,
    agency: d.agency,
    needs_identity: d.requires === 'identity',
    needs_address: d.requires === 'address',
    available: true,
    fee_hint: d.fee?.base ?? 0,
    options: (d.option || []).map((o) => ({
      key: o.key,
      name: o.name_ko,
      name_en: o.name_en,
      values: o.choices.map((c) => ({ value: c.value, name: c.name_ko, name_en: c.name_en })),
      default: o.default,
    })),
    // Stub-only fields (not sent): for fees and pages after "fetching".
    _fee: d.fee || { base: 0 },
    _maxPages: d.max_pages,
    _order: i,
  }));
  const rank = (c) => { const r = MOST_USED.indexOf(c.code); return r === -1 ? 1000 + c._order : r; };
  docs.sort((a, b) => rank(a) - rank(b));
  return { domains, documents: docs };
}
