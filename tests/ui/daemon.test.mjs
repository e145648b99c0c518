// The touchscreen against the real kiosk-daemon on the simulators (kiosk-demo): the page,
// the local API, the device simulators over pseudo-terminals and IPP, egov-sim over mutual
// TLS. Runs when KIOSK_DEMO (the JSON line kiosk-demo printed) is set; scripts/test-ui
// starts kiosk-demo and sets it.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import * as H from './helpers.mjs';

const demo = process.env.KIOSK_DEMO ? JSON.parse(process.env.KIOSK_DEMO) : null;
const url = demo?.touchscreen?.replace(/\/$/, '');
const panel = demo?.simulation?.replace(/\/$/, '');
const RRN = demo?.synthetic_resident_numbers?.[0]?.replace(/-/g, '');

let browser; let page;

async function sim(what, value) {
  const q = new URLSearchParams({ what });
  if (value !== undefined) q.set('value', String(value));
  const r = await fetch(`${panel}/sim?${q}`, { method: 'POST' });
  assert.ok(r.ok, `simulation panel ${what}: ${r.status} ${await r.text()}`);
}

async function api(path, method = 'GET') {
  const r = await fetch(`${url}${path}`, { method });
  return r.json().catch(() => ({}));
}

describe('against the real daemon', { skip: !demo && 'KIOSK_DEMO not set' }, () => {
  before(async () => { browser = await H.launchBrowser(); });
  after(async () => { await browser?.close(); });
  beforeEach(async () => {
    // A fresh start: no session, no faults.
    await sim('network-up'); await sim('clear-jam');
    const s = await api('/api/v1/state');
    if (s.session) {
      await api('/api/v1/session/cancel', 'POST');
      for (let i = 0; i < 100; i++) {
        const st = await api('/api/v1/state');
        if (!st.session || st.session.ended) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      await api('/api/v1/session/finish', 'POST');
    }
    // Back in service (the network's breaker closes a moment after the network returns).
    for (let i = 0; i < 100; i++) {
      if ((await api('/api/v1/state')).kiosk.mode === 'open') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    if (page) await page.close();
    page = await H.newPage(browser);
    page.setDefaultTimeout(15000);
    await H.open(page, url);
  });

  const tap = (fid) => page.click(`[data-fid="${fid}"]`);
  const text = () => page.evaluate(() => document.querySelector('#main').innerText);

  async function toPayment(code = 'RES-COPY', copies = 1) {
    await tap('start');
    await H.waitScreen(page, 'choose');
    if (!(await page.$(`[data-fid="doc-${code}"]`))) await tap('domain-all');
    await tap(`doc-${code}`);
    await H.waitScreen(page, 'options');
    for (let i = 1; i < copies; i++) await tap('more');
    await tap('add');
    await H.waitScreen(page, 'basket');
    await tap('next');
    await H.waitScreen(page, 'identity');
    for (const d of RRN) await tap(`key-${d}`);
    await tap('key-ok');
    await H.waitScreen(page, 'preview', 15000);
    await tap('pay');
    await H.waitScreen(page, 'payment');
  }

  test('a purchase with coins and a note, printed by the simulated A4 printer', async () => {
    await toPayment('RES-COPY', 2);
    assert.match(await text(), /400원/);
    await sim('coin', 100);
    await page.waitForFunction(() => document.querySelector('#main').innerText.includes('300원'));
    await sim('note', 1000);
    await H.waitScreen(page, 'done', 20000);
    assert.match(await text(), /700원/);
    const st = await api('/api/v1/state');
    assert.equal(st.session.ended.fees, 400);
    assert.equal(st.session.ended.paid_back, 700);
    await H.shot(page, 'daemon', 'done');
  });

  test('cancel with refund', async () => {
    await toPayment('FAM-RELATION', 1);
    await sim('coin', 100);
    await page.waitForFunction(() => document.querySelector('#main').innerText.includes('400원'));
    await tap('cancel');
    await H.waitScreen(page, 'canceled');
    assert.match(await text(), /100원/);
    const st = await api('/api/v1/state');
    assert.equal(st.session.ended.paid_back, 100);
  });

  test('network down: the kiosk says where else to go and takes nothing', async () => {
    await tap('start');
    await H.waitScreen(page, 'choose');
    if (!(await page.$('[data-fid="doc-RES-COPY"]'))) await tap('domain-all');
    await tap('doc-RES-COPY');
    await H.waitScreen(page, 'options');
    await tap('add');
    await H.waitScreen(page, 'basket');
    await sim('network-down');
    await tap('next');
    await H.waitScreen(page, 'identity');
    for (const d of RRN) await tap(`key-${d}`);
    await tap('key-ok');
    await H.waitScreen(page, 'canceled', 20000);
    assert.match(await text(), /정부24/);
    const st = await api('/api/v1/state');
    assert.equal(st.session.ended.inserted, 0);
    // With the network's breaker open, the attract screen says the kiosk is out of service.
    await api('/api/v1/session/finish', 'POST');
    await H.waitScreen(page, 'out-of-service', 10000);
    assert.match(await text(), /정부24/);
  });

  test('a printer jam refunds what was not printed', async () => {
    await toPayment('RES-COPY', 2);
    await sim('jam', 1);
    await sim('coin', 500);
    await page.waitForFunction(() => ['done', 'canceled'].includes(document.body.dataset.screen), null, { timeout: 20000 });
    const st = await api('/api/v1/state');
    assert.equal(st.session.ended.fees, 200, JSON.stringify(st.session.ended));
    assert.equal(st.session.ended.paid_back, 300);
    // One copy printed: the done screen tells of the missing one, in words and speech.
    assert.equal(await page.evaluate(() => document.body.dataset.screen), 'done');
    const banner = await page.$eval('#print-failed', (e) => e.textContent);
    assert.match(banner, /용지가 걸렸습니다/);
    assert.match(banner, /200원/);
    await H.waitSpoken(page, '용지가 걸렸습니다', 10000);
  });

  test('earphones plugged into the I/O board switch voice guidance on', async () => {
    await sim('earphone-in');
    // The private-listening indicator appears and the announcement is captioned.
    await page.waitForSelector('#earphone:not([hidden])', { timeout: 10000 });
    const log = await H.spoken(page);
    assert.ok(log.length > 0, 'the earphone announcement is captioned');
    await sim('earphone-out');
  });

  const KEYBOARD = { up: 'ArrowUp', down: 'ArrowDown', ok: 'Enter', back: 'Escape', help: 'F1' };
  for (const mode of ['normal', 'zoom', 'low', 'contrast']) {
    test(`a purchase with the keys only, every step spoken (${mode})`, async () => {
      const press = (k) => page.keyboard.press(KEYBOARD[k] ?? k);
      const fid = () => page.evaluate(() => document.activeElement?.dataset?.fid);
      const focusByKeys = async (target, dir = 'down') => {
        for (let i = 0; i < 60 && (await fid()) !== target; i++) await press(dir);
        assert.equal(await fid(), target, `could not reach ${target}`);
      };
      const step = async (screenName, ...phrases) => {
        await H.waitScreen(page, screenName, 15000);
        for (const p of phrases) await H.waitSpoken(page, p, 15000);
      };
      await step('attract', '시작하기');
      if (mode !== 'normal') {
        await focusByKeys(mode);
        await press('ok');
        await page.waitForSelector(`[data-fid="${mode}"][aria-pressed="true"]`);
        await focusByKeys('start', 'up');
      }
      await press('ok');
      await step('choose', '서류 고르기', '주민등록표 등본');
      await press('1');
      await step('options', '담기');
      await press('ok');
      await step('basket', '다음');
      await press('ok');
      await step('identity', '주민등록번호');
      for (const d of RRN) await press(d);
      await H.waitSpoken(page, '모두 입력했습니다');
      await press('ok');
      await step('preview', '결제하기');
      await press('ok');
      await step('payment', '200원');
      await sim('coin', 500);
      await step('done', '서류를 가져가세요', '거스름돈 300원');
      await press('ok');
      await step('attract');
      const log = (await H.spoken(page)).join('\n');
      assert.ok(!log.includes(RRN.slice(6)), 'the back half of the resident number was spoken');
      await H.shot(page, `daemon-${mode}`, 'keys-done');
    });
  }
});
