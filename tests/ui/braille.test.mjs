// The braille label sheet: keymap.json's braille agrees with the translator, known labels
// come out as the Korean braille rules write them, and ui/braille.html prints to an A4 PDF
// (artifacts/ui/braille-labels.pdf).

import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { startKiosk } from './control.mjs';
import * as H from './helpers.mjs';
import { toBraille } from '../../ui/braille.js';

const keymap = JSON.parse(readFileSync(path.join(H.ROOT, 'ui', 'keymap.json'), 'utf8'));
let kiosk; let browser;
before(async () => { kiosk = await startKiosk(); browser = await H.launchBrowser(); });
after(async () => { await browser?.close(); await kiosk?.close(); });

test('Korean braille of known labels (abbreviations, fortis, separators, digits)', () => {
  const known = {
    위: '⠍⠗', 아래: '⠣⠐⠗', 왼쪽: '⠽⠒⠠⠨⠭', 오른쪽: '⠥⠐⠵⠠⠨⠭', 확인: '⠚⠧⠁⠟', 뒤로: '⠊⠍⠗⠐⠥',
    도움: '⠊⠥⠍⠢', '다시 듣기': '⠊⠠⠕⠀⠊⠪⠔⠈⠕', '소리 작게': '⠠⠥⠐⠕⠀⠨⠁⠈⠝', 동전: '⠊⠿⠨⠾', 지폐: '⠨⠕⠙⠌',
    영수증: '⠻⠠⠍⠨⠪⠶', 거스름돈: '⠈⠎⠠⠪⠐⠪⠢⠊⠷', '나오는 곳': '⠉⠣⠥⠉⠵⠀⠈⠥⠄', 성: '⠠⠻', 것: '⠸⠎', 사: '⠇', 가: '⠫',
    1: '⠼⠁', 0: '⠼⠚', 10: '⠼⠁⠚', 2026: '⠼⠃⠚⠃⠋',
  };
  for (const [k, v] of Object.entries(known)) assert.equal(toBraille(String(k)), v, k);
});

test('keymap.json: every key and slot labelled, braille generated from the label', () => {
  const keys = keymap.keys.map((k) => k.key);
  for (const k of ['up', 'down', 'left', 'right', 'ok', 'back', 'help', 'volume-up', 'volume-down', 'replay', ...'0123456789']) assert.ok(keys.includes(k), k);
  for (const item of [...keymap.keys, ...keymap.slots]) {
    assert.equal(item.braille, toBraille(item.label_ko), item.key || item.id);
    assert.match(item.braille, /^[\u2800-\u283f]+$/, `6-dot cells only: ${item.label_ko}`);
  }
});

test('braille.html renders every label and prints to an A4 PDF', async () => {
  const page = await H.newPage(browser);
  await page.goto(`${kiosk.url}/braille.html`);
  await page.waitForSelector('body[data-ready="true"]');
  assert.equal(await page.locator('.label').count(), keymap.keys.length + keymap.slots.length);
  assert.equal(await page.locator('[data-mismatch]').count(), 0);
  assert.equal(await page.textContent('[data-key="ok"] .braille'), '⠚⠧⠁⠟');
  assertNoAxe(await H.axe(page));
  mkdirSync(H.ARTIFACTS, { recursive: true });
  const out = path.join(H.ARTIFACTS, 'braille-labels.pdf');
  await page.pdf({ path: out, format: 'A4', printBackground: true });
  const head = readFileSync(out).subarray(0, 5).toString();
  assert.equal(head, '%PDF-');
  assert.ok(statSync(out).size > 1000);
  await page.close();
});

function assertNoAxe(v) { H.assertNoViolations(v, 'braille.html'); }
