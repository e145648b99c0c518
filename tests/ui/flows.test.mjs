// Whole sessions by touch: purchase, cancel with refund, network down, printer jam,
// fingerprint failure, timeout warning, exact-amount-only, IOU, out-of-hours, help,
// languages, and the resident number's privacy.

import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { startKiosk } from './control.mjs';
import * as H from './helpers.mjs';

const RRN_FRONT = '900101';
const RRN_BACK = '1234567';

let kiosk; let browser; let page;
const perf = [];

before(async () => {
  kiosk = await startKiosk();
  browser = await H.launchBrowser();
});
after(async () => {
  H.writeFigurePart('flows', { perf });
  await browser?.close();
  await kiosk?.close();
});
beforeEach(async () => {
  await kiosk.ctl.reset();
  if (page) { perf.push(...(await H.perfEntries(page))); await page.close(); }
  page = await H.newPage(browser);
  await H.open(page, kiosk.url);
});

const tap = (fid) => page.click(`[data-fid="${fid}"]`);

async function chooseDocument(code, { copies = 1, address } = {}) {
  if (await H.screen(page) === 'attract') { await tap('start'); }
  await H.waitScreen(page, 'choose');
  if (!(await page.$(`[data-fid="doc-${code}"]`))) await tap('domain-all');
  await tap(`doc-${code}`);
  await H.waitScreen(page, 'options');
  for (let i = 1; i < copies; i++) await tap('more');
  if (address !== undefined) {
    await tap('next');
    await H.waitScreen(page, 'address');
    await page.fill('#address', address);
  }
  await tap('add');
  await H.waitScreen(page, 'basket');
}

async function typeResidentNumber(digits) {
  for (const d of digits) await tap(`key-${d}`);
}

async function toPayment({ code = 'RES-COPY', copies = 1 } = {}) {
  await chooseDocument(code, { copies });
  await tap('next');
  await H.waitScreen(page, 'identity');
  await typeResidentNumber(RRN_FRONT + RRN_BACK);
  await tap('key-ok');
  await H.waitScreen(page, 'fingerprint');
  await kiosk.ctl.fingerprint(true);
  await H.waitScreen(page, 'preview');
  await tap('pay');
  await H.waitScreen(page, 'payment');
}

const text = () => page.evaluate(() => document.querySelector('#main').innerText);

describe('by touch', () => {
  test('purchase with coins and a note: change, receipt, back to start', async () => {
    await toPayment({ copies: 2 });
    assert.match(await text(), /400원/);
    await kiosk.ctl.insertCoin(100);
    await page.waitForFunction(() => document.querySelector('#main').innerText.includes('300원'));
    await H.waitSpoken(page, '100원 넣었습니다. 남은 돈 300원');
    await tap('receipt');
    await page.waitForSelector('[data-fid="receipt"][aria-pressed="true"]');
    await kiosk.ctl.insertNote(1000);
    await H.waitScreen(page, 'done');
    assert.match(await text(), /거스름돈 700원을 가져가세요/);
    assert.match(await text(), /영수증을 출력합니다/);
    await tap('finish');
    await H.waitScreen(page, 'attract');
  });

  test('basket: two documents, one removed; land document asks for an address', async () => {
    await chooseDocument('LAND-REGISTER', { address: '서초동 1376-1' });
    await tap('more');
    await chooseDocument('RES-ABSTRACT');
    assert.equal(await page.locator('.lines li').count(), 2);
    await tap('remove-0');
    await page.waitForFunction(() => document.querySelectorAll('.lines li').length === 1);
    assert.match(await text(), /주민등록표 초본/);
  });

  test('address is validated before it is sent', async () => {
    await tap('start');
    await H.waitScreen(page, 'choose');
    await tap('doc-LAND-REGISTER');
    await tap('next');
    await H.waitScreen(page, 'address');
    await page.fill('#address', '서초동');
    await tap('add');
    await page.waitForSelector('.error');
    assert.equal(await H.screen(page), 'address');
    await tap('akey-1'); await tap('akey-2');
    assert.equal(await page.inputValue('#address'), '서초동12');
  });

  test('cancel during payment gives every won back', async () => {
    await toPayment({ copies: 3 });
    await kiosk.ctl.insertCoin(500);
    await page.waitForFunction(() => document.querySelector('#main').innerText.includes('100원'));
    await tap('cancel');
    await H.waitScreen(page, 'canceled');
    assert.match(await text(), /넣은 돈 500원을 돌려드렸습니다/);
    await tap('finish');
    await H.waitScreen(page, 'attract');
  });

  test('network down: out-of-service screen says where else to go; mid-session fetch fails with no money taken', async () => {
    await kiosk.ctl.network(true);
    await H.waitScreen(page, 'out-of-service');
    assert.match(await text(), /정부24/);
    assert.match(await text(), /서초구청 민원실/);
    await kiosk.ctl.network(false);
    await H.waitScreen(page, 'attract');

    await chooseDocument('RES-COPY');
    await tap('next');
    await H.waitScreen(page, 'identity');
    await typeResidentNumber(RRN_FRONT + RRN_BACK);
    await tap('key-ok');
    await H.waitScreen(page, 'fingerprint');
    await kiosk.ctl.network(true);
    await kiosk.ctl.fingerprint(true);
    await H.waitScreen(page, 'canceled');
    assert.match(await text(), /행정 전산망에 연결할 수 없습니다/);
    assert.match(await text(), /정부24/);
    assert.doesNotMatch(await text(), /돌려드렸습니다/); // nothing was paid
  });

  test('unavailable documents are greyed out with where else to go', async () => {
    await tap('start');
    await H.waitScreen(page, 'choose');
    const fam = page.locator('[data-fid="doc-FAM-RELATION"]');
    assert.equal(await fam.getAttribute('aria-disabled'), 'true');
    assert.match(await fam.innerText(), /다른 곳/);
    await fam.click({ force: true });
    assert.equal(await H.screen(page), 'choose');
    await H.waitSpoken(page, '지금 이 발급기에서 발급할 수 없습니다');
  });

  test('printer jam: refund of what was not printed, staff called message', async () => {
    await toPayment({ copies: 2 });
    await kiosk.ctl.jamPrinter();
    await kiosk.ctl.insertCoin(500);
    await H.waitScreen(page, 'canceled', 8000);
    assert.match(await text(), /용지가 걸렸습니다/);
    assert.match(await text(), /돌려드렸습니다/);
  });

  test('fingerprint: retry guidance with tries left, then go to the counter', async () => {
    await chooseDocument('RES-COPY');
    await tap('next');
    await typeResidentNumber(RRN_FRONT + RRN_BACK);
    await tap('key-ok');
    await H.waitScreen(page, 'fingerprint');
    await H.waitSpoken(page, '지문 인식기에 손가락을 올려 주세요');
    await kiosk.ctl.fingerprint(false);
    await H.waitSpoken(page, '남은 횟수 2번');
    await kiosk.ctl.fingerprint(false);
    await H.waitSpoken(page, '남은 횟수 1번');
    await kiosk.ctl.fingerprint(false);
    await H.waitScreen(page, 'canceled');
    assert.match(await text(), /창구로 가 주세요/);
  });

  test('resident number: 13 digits checked, back half never shown, spoken or logged', async () => {
    await chooseDocument('RES-COPY');
    await tap('next');
    await H.waitScreen(page, 'identity');
    await typeResidentNumber('9013');
    await tap('key-ok');
    await H.waitSpoken(page, '열세 자리를 모두 입력하세요');
    for (let i = 0; i < 4; i++) await tap('key-del');
    await typeResidentNumber('901301' + RRN_BACK); // month 13
    await tap('key-ok');
    await H.waitSpoken(page, '올바르지 않습니다');
    await typeResidentNumber(RRN_FRONT + RRN_BACK);
    assert.equal((await page.textContent('#rrn [aria-hidden]')).trim(), '900101-1●●●●●●');
    const all = [(await H.spoken(page)).join('\n'), page.consoleLines.join('\n'), await page.evaluate(() => document.body.innerText)].join('\n');
    assert.ok(!all.includes(RRN_BACK.slice(1)), 'back half of the resident number leaked');
    assert.ok(!all.includes('234567'));
    await tap('key-ok');
    await H.waitScreen(page, 'fingerprint');
    assert.ok(!(await page.evaluate(() => document.body.innerHTML)).includes('1234567'));
  });

  test('timeout warning offers more time; the timeout itself returns the money', async () => {
    await toPayment();
    await kiosk.ctl.timeoutWarning(30);
    await page.waitForSelector('dialog[open]');
    await H.waitSpoken(page, '30초 뒤에 처음 화면으로 돌아갑니다');
    assert.equal(await page.evaluate(() => document.activeElement.dataset.fid), 'more-time');
    await tap('more-time');
    await page.waitForSelector('dialog[open]', { state: 'detached' });
    assert.equal(await H.screen(page), 'payment');
    await kiosk.ctl.insertCoin(100);
    await kiosk.ctl.timeout();
    await H.waitScreen(page, 'canceled');
    assert.match(await text(), /시간이 지나 취소되었습니다/);
    assert.match(await text(), /100원을 돌려드렸습니다/);
  });

  test('exact amount only: banner, notes that need change come back', async () => {
    await kiosk.ctl.exactAmountOnly(true);
    await toPayment();
    await page.waitForSelector('#exact');
    await H.waitSpoken(page, '금액에 맞게 넣어 주세요');
    await kiosk.ctl.insertNote(1000);
    await H.waitSpoken(page, '거스름돈을 드릴 수 없어 지폐를 돌려드렸습니다');
    assert.equal(await H.screen(page), 'payment');
  });

  test('change cannot be paid: the IOU message', async () => {
    await kiosk.ctl.hopperEmpty(true);
    await toPayment();
    await kiosk.ctl.insertNote(1000);
    await H.waitScreen(page, 'done');
    await page.waitForSelector('#iou');
    assert.match(await text(), /800원을 다 드리지 못했습니다/);
  });

  test('out of hours and restarting say where else to go', async () => {
    await kiosk.ctl.mode('out-of-hours');
    await H.waitScreen(page, 'closed');
    assert.match(await text(), /06:00-24:00/);
    assert.match(await text(), /정부24/);
    await kiosk.ctl.mode('restarting');
    await H.waitScreen(page, 'restarting');
  });

  test('help on every screen calls staff', async () => {
    await tap('help');
    await H.waitSpoken(page, '직원을 불렀습니다');
    await tap('start');
    await H.waitScreen(page, 'choose');
    await tap('help');
    await page.waitForFunction(() => [...document.querySelectorAll('#speech-log p')].filter((p) => p.textContent.includes('직원을 불렀습니다')).length >= 2);
    assert.equal(await kiosk.ctl.helpCalls(), 2);
  });

  test('languages: English, Chinese, Vietnamese on any screen; document names in English', async () => {
    await tap('start');
    await H.waitScreen(page, 'choose');
    const h1Is = (text) => page.waitForFunction((x) => document.querySelector('h1').textContent === x, text);
    await tap('lang-en');
    await h1Is('Choose documents');
    assert.equal(await page.getAttribute('html', 'lang'), 'en');
    assert.match(await page.innerText('[data-fid="doc-RES-COPY"]'), /Resident registration copy/);
    await tap('lang-zh');
    await h1Is('选择证明');
    assert.equal(await page.getAttribute('html', 'lang'), 'zh');
    await tap('lang-vi');
    await h1Is('Chọn giấy tờ');
    assert.equal(await page.getAttribute('html', 'lang'), 'vi');
    await H.waitSpoken(page, 'Hãy chọn giấy tờ');
    await tap('lang-ko');
    await h1Is('서류 고르기');
  });

  test('search finds documents by name and by initial consonants', async () => {
    await tap('start');
    await H.waitScreen(page, 'choose');
    await page.fill('#search', '가족');
    await page.waitForFunction(() => document.querySelectorAll('.docs li').length >= 2);
    assert.match(await page.innerText('.docs'), /가족관계증명서/);
    await page.fill('#search', 'ㄱㄴㄷ');
    await page.waitForSelector('.docs', { state: 'detached' });
    await page.fill('#search', 'ㅌㅈㄷㅈ');
    await page.waitForFunction(() => document.querySelector('.docs')?.innerText.includes('토지대장'));
  });

  test('landscape works', async () => {
    await page.setViewportSize(H.LANDSCAPE);
    await tap('start');
    await H.waitScreen(page, 'choose');
    assert.deepEqual(await H.layoutProblems(page), []);
  });
});
