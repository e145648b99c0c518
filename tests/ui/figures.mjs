// Merges the figures the test files wrote (artifacts/ui/parts/*.json) into
// artifacts/ui/figures.json and prints them: touch-to-next-screen-painted p50/p95,
// and bytes transferred to show each screen.

import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { ARTIFACTS } from './helpers.mjs';

const dir = path.join(ARTIFACTS, 'parts');
const parts = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(path.join(dir, f), 'utf8'))) : [];
const perf = parts.flatMap((p) => p.perf || []);
const weight = Object.assign({}, ...parts.map((p) => p.weight || {}));

const pct = (xs, q) => {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)];
};
const summary = (xs) => ({ n: xs.length, p50_ms: pct(xs, 0.5), p95_ms: pct(xs, 0.95), max_ms: xs.length ? Math.max(...xs) : null });
const byVia = {};
for (const e of perf) (byVia[e.via] ||= []).push(e.ms);

const figures = {
  generated: new Date().toISOString(),
  touch_to_paint: { all: summary(perf.map((e) => e.ms)), ...Object.fromEntries(Object.entries(byVia).map(([k, v]) => [k, summary(v)])) },
  bytes_per_screen: Object.fromEntries(Object.entries(weight).map(([k, v]) => [k, { total_bytes: v.total, kb: Math.round(v.total / 102.4) / 10, files: v.files }])),
};
writeFileSync(path.join(ARTIFACTS, 'figures.json'), JSON.stringify(figures, null, 1));
console.log('touch → next screen painted:', JSON.stringify(figures.touch_to_paint));
console.log('KB transferred per screen:', Object.entries(figures.bytes_per_screen).map(([k, v]) => `${k} ${v.kb}`).join(', '));
