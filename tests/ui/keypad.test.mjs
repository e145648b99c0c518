// A whole purchase with the keys only (no touch), asserting what is spoken at each step,
// in every display mode; the physical keypad through SSE `device` events and the keyboard
// through real key events. Earphones switch voice guidance on, privately.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKiosk } from './control.mjs';
import * as H from './helpers.mjs';

let kiosk; let browser;
const perf = [];

before(async () => {
  kiosk = await startKiosk();
  browser = await H.launchBrowser();
});
after(async () => {
  H.writeFigurePart('keypad', { perf });
  await H.closeScaled();
  await browser?.close();
  await kiosk?.close();
});

const KEYBOARD = { up: 'ArrowUp', down: 'ArrowDown', left: 'ArrowLeft', right: 'ArrowRight', ok: 'Enter', back: 'Escape', help: 'F1' };

async function focusRing(page) {
  return page.evaluate(() => {
    const el = document.activeElement;
    const cs = getComputedStyle(el);
    return { fid: el.dataset.fid, width: parseFloat(cs.outlineWidth), style: cs.outlineStyle, color: cs.outlineColor };
  });
}

async function keypadPurchase({ mode, via, viewport, deviceScaleFactor }) {
  await kiosk.ctl.reset();
  const page = await H.newPage(browser, { viewport, deviceScaleFactor });
  try {
    await keypadSession(page, { mode, via });
  } finally {
    perf.push(...(await H.perfEntries(page).catch(() => [])));
    await page.context() === browser.ctx ? page.close() : page.context().close();
  }
}

async function keypadSession(page, { mode, via }) {
  await H.open(page, kiosk.url);
  const press = async (key) => {
    if (via === 'keypad') {
      // The physical keypad's keys come through the daemon's event stream: wait until
      // the page has handled each one before sending the next.
      const n = await page.evaluate(() => window.__kiosk.keys);
      await kiosk.ctl.keypad(key);
      await page.waitForFunction((m) => window.__kiosk.keys > m, n);
    } else await page.keyboard.press(KEYBOARD[key] ?? key);
  };
  const fid = () => page.evaluate(() => document.activeElement?.dataset?.fid);
  const focusByKeys = async (target, dir = 'down') => {
    for (let i = 0; i < 60 && (await fid()) !== target; i++) await press(dir);
    assert.equal(await fid(), target, `could not reach ${target} with the ${dir} key`);
  };
  // The display mode is switched with the keys too: walk to the toolbar, OK, walk back.
  if (mode !== 'normal' && mode !== 'browser-zoom') {
    await H.waitSpoken(page, '시작하기');
    await focusByKeys(mode);
    await press('ok');
    await page.waitForSelector(`[data-fid="${mode}"][aria-pressed="true"]`);
    await focusByKeys('start', 'up');
  }
  const step = async (screenName, ...phrases) => {
    await H.waitScreen(page, screenName);
    for (const p of phrases) await H.waitSpoken(page, p);
    const ring = await focusRing(page);
    assert.ok(ring.width >= 3 && ring.style !== 'none', `focus ring on ${screenName}: ${JSON.stringify(ring)}`);
  };

  await step('attract', '화면을 누르면 시작합니다', '시작하기');
  await press('ok');
  await step('choose', '서류 고르기', '1번, 주민등록표 등본, 200원부터');
  // Arrow keys walk the list, each control spoken.
  await press('down');
  await H.waitSpoken(page, '2번, 주민등록표 초본');
  await press('up');
  await press('1');
  await step('options', '주민등록표 등본. 선택 사항과 부수를 정한 뒤 담기를 누르세요', '담기');
  await press('2');
  await H.waitSpoken(page, '2통');
  await press('ok');
  await step('basket', '담은 서류는 1건입니다', '다음');
  await press('ok');
  await step('identity', '주민등록번호 열세 자리를 숫자 단추로 입력하세요', '확인');
  for (const d of '9001011234567') await press(d);
  await H.waitSpoken(page, '앞자리 6자리 입력됨');
  await H.waitSpoken(page, '뒷자리 7자리 입력됨');
  await H.waitSpoken(page, '모두 입력했습니다');
  assert.equal((await page.textContent('#rrn [aria-hidden]')).trim(), '900101-1●●●●●●');
  await press('back');
  await H.waitSpoken(page, '한 자리 지움');
  await press('7');
  await press('ok');
  await step('fingerprint', '지문 인식기에 손가락을 올려 주세요');
  await kiosk.ctl.fingerprint(false);
  await H.waitSpoken(page, '남은 횟수 2번');
  await kiosk.ctl.fingerprint(true);
  await step('preview', '수수료는 모두 400원입니다', '결제하기');
  await press('ok');
  await step('payment', '수수료 400원을 동전이나 지폐로 넣어 주세요');
  await press('help');
  await H.waitSpoken(page, '직원을 불렀습니다');
  await kiosk.ctl.insertCoin(500);
  await step('done', '서류를 가져가세요', '거스름돈 100원을 가져가세요', '다 가져갔어요');
  await press('ok');
  await step('attract', '화면을 누르면 시작합니다');

  const log = (await H.spoken(page)).join('\n');
  assert.ok(!log.includes('1234567') && !log.includes('234567'), 'resident number spoken');
  if (mode !== 'normal') await H.shot(page, mode, 'keypad-end');
}

describe('keys only', () => {
  test('purchase with the physical keypad (SSE device events), normal display', () => keypadPurchase({ mode: 'normal', via: 'keypad' }));
  test('purchase with the keyboard, magnified 200%', () => keypadPurchase({ mode: 'zoom', via: 'keyboard' }));
  test('purchase with the physical keypad, low position', () => keypadPurchase({ mode: 'low', via: 'keypad' }));
  test('purchase with the keyboard, high contrast', () => keypadPurchase({ mode: 'contrast', via: 'keyboard' }));
  test('purchase with the keyboard, browser zoom 200% (540x960 CSS px at 2x)', () => keypadPurchase({ mode: 'browser-zoom', via: 'keyboard', viewport: { width: 540, height: 960 }, deviceScaleFactor: 2 }));

  test('earphones in: voice on, private indicator, speech fetched from the daemon; out: back', async () => {
    await kiosk.ctl.reset();
    const page = await H.newPage(browser);
    await H.open(page, kiosk.url);
    assert.equal(await page.getAttribute('[data-fid="voice"]', 'aria-pressed'), 'false');
    const speech = [];
    page.on('request', (r) => { if (r.url().includes('/api/v1/speech')) speech.push(new URL(r.url()).searchParams); });
    await kiosk.ctl.earphone(true);
    await page.waitForSelector('#earphone:not([hidden])');
    assert.match(await page.textContent('#earphone'), /이어폰/);
    assert.equal(await page.getAttribute('[data-fid="voice"]', 'aria-pressed'), 'true');
    await H.waitSpoken(page, '이어폰이 연결되었습니다');
    await page.waitForFunction(() => !document.querySelector('#voice').paused || document.querySelector('#voice').src.includes('/api/v1/speech'));
    await kiosk.ctl.keypad('ok');
    await H.waitScreen(page, 'choose');
    await H.waitSpoken(page, '서류 고르기');
    await page.waitForFunction(() => document.querySelector('#voice').src.includes('/api/v1/speech'));
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(speech.length > 0, 'no speech requested');
    assert.ok(speech.every((q) => q.get('lang') === 'ko' && Number(q.get('rate')) >= 0.5 && q.get('text').length <= 500));
    assert.ok(speech.some((q) => q.get('text').includes('이어폰이 연결되었습니다')), 'earphone message not played');
    // Volume and rate controls, replay and stop.
    await kiosk.ctl.keypad('volume-up');
    await H.waitSpoken(page, '음량 80');
    await page.click('[data-fid="rate-up"]');
    await H.waitSpoken(page, '말 빠르기 1.25');
    await kiosk.ctl.keypad('replay');
    await page.waitForFunction(() => document.querySelector('#voice').src.includes('rate=1.25'));
    assert.equal(await page.evaluate(() => document.querySelector('#voice').volume), 0.8);
    await page.click('[data-fid="stop"]');
    assert.equal(await page.evaluate(() => document.querySelector('#voice').paused), true);
    await kiosk.ctl.earphone(false);
    await page.waitForSelector('#earphone', { state: 'hidden' });
    assert.equal(await page.getAttribute('[data-fid="voice"]', 'aria-pressed'), 'false');
    await page.close();
  });
});
