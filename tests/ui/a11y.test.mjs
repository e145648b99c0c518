// Every screen in every display mode: axe-core finds nothing (the high-contrast theme also
// passes color-contrast-enhanced, 7:1), magnified modes neither scroll sideways nor clip
// and keep every control reachable, low position keeps every control in the lower half.
// Screenshots go to artifacts/ui/screens/<mode>/<screen>.png; bytes per screen are recorded.

import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startKiosk } from './control.mjs';
import * as H from './helpers.mjs';

let kiosk; let browser;
const perf = [];
const weight = {};
const seen = {};

before(async () => {
  kiosk = await startKiosk();
  browser = await H.launchBrowser();
});
after(async () => {
  H.writeFigurePart('a11y', { perf, weight, seen });
  await H.closeScaled();
  await browser?.close();
  await kiosk?.close();
});

const MODES = [
  { mode: 'normal' },
  { mode: 'zoom' },
  { mode: 'low' },
  { mode: 'contrast' },
  { mode: 'browser-zoom', viewport: { width: 540, height: 960 }, deviceScaleFactor: 2 },
  { mode: 'landscape', viewport: H.LANDSCAPE },
];

async function tour({ mode, viewport, deviceScaleFactor }) {
  const { ctl } = kiosk;
  await ctl.reset();
  await ctl.delays(1500, 700); // long enough to look at "fetching" and "printing"
  const page = await H.newPage(browser, { viewport, deviceScaleFactor });
  const problems = [];
  const names = [];
  const tap = (fid) => page.click(`[data-fid="${fid}"]`);
  const check = async (name) => {
    const screenName = await H.screen(page);
    names.push(name);
    await H.shot(page, mode, name);
    const v = await H.axe(page, { enhanced: mode === 'contrast' });
    if (v.length) problems.push(`${name}: axe ${JSON.stringify(v, null, 1)}`);
    if (['zoom', 'browser-zoom', 'normal', 'landscape', 'contrast'].includes(mode)) {
      const l = await H.layoutProblems(page);
      if (l.length) problems.push(`${name}: layout ${l.join('; ')}`);
    }
    if (mode === 'zoom' || mode === 'browser-zoom') {
      const r = await H.everyControlReachable(page);
      if (r.length) problems.push(`${name}: unreachable ${r.join('; ')}`);
    }
    if (mode === 'low') {
      const b = await H.controlsAboveHalf(page);
      if (b.length) problems.push(`${name}: controls in the upper half ${b.join('; ')}`);
    }
    if (mode === 'normal' && !weight[name]) weight[name] = await H.pageBytes(page);
    return screenName;
  };
  try {
    await H.open(page, kiosk.url);
    if (mode === 'zoom' || mode === 'low' || mode === 'contrast') await H.setMode(page, mode);
    await check('attract');
    await tap('start');
    await H.waitScreen(page, 'choose');
    await page.evaluate(() => document.activeElement.blur());
    await check('choose');
    await tap('domain-all');
    await check('choose-all');
    await tap('doc-LAND-REGISTER');
    await H.waitScreen(page, 'options');
    await check('options');
    await tap('next');
    await H.waitScreen(page, 'address');
    await page.fill('#address', '서초동 1376-1');
    await check('address');
    await tap('add');
    await H.waitScreen(page, 'basket');
    await tap('more');
    await tap('doc-RES-COPY');
    await H.waitScreen(page, 'options');
    await check('options-choices');
    await tap('add');
    await H.waitScreen(page, 'basket');
    await check('basket');
    await tap('next');
    await H.waitScreen(page, 'identity');
    for (const d of '9001011') await tap(`key-${d}`);
    await check('identity');
    for (const d of '234567') await tap(`key-${d}`);
    await tap('key-ok');
    await H.waitScreen(page, 'fingerprint');
    await ctl.fingerprint(false);
    await H.waitSpoken(page, '남은 횟수 2번');
    await check('fingerprint');
    await ctl.fingerprint(true);
    await H.waitScreen(page, 'fetching');
    await check('fetching');
    await H.waitScreen(page, 'preview');
    await check('preview');
    await tap('pay');
    await H.waitScreen(page, 'payment');
    await ctl.exactAmountOnly(true);
    await ctl.insertCoin(100);
    await page.waitForSelector('#exact');
    await check('payment');
    await ctl.timeoutWarning(30);
    await page.waitForSelector('dialog[open]');
    await check('timeout-warning');
    await tap('more-time');
    await page.waitForSelector('dialog[open]', { state: 'detached' });
    await ctl.insertCoin(500);
    await ctl.insertCoin(100);
    await ctl.insertCoin(100); // 800 won: land register (2 pages) 600 + resident copy 200
    await H.waitScreen(page, 'printing');
    await page.waitForFunction(() => Number(document.querySelector('progress')?.value) >= 1, null, { timeout: 5000 });
    await check('printing');
    await H.waitScreen(page, 'done', 10000);
    await check('done');
    await tap('finish');
    await H.waitScreen(page, 'attract');
    if (mode === 'zoom' || mode === 'low' || mode === 'contrast') await H.setMode(page, mode); // a new citizen starts plain
    await tap('start');
    await H.waitScreen(page, 'choose');
    await tap('cancel');
    await H.waitScreen(page, 'canceled');
    await check('canceled');
    await tap('finish');
    await H.waitScreen(page, 'attract');
    if (mode === 'zoom' || mode === 'low' || mode === 'contrast') await H.setMode(page, mode);
    await ctl.network(true);
    await H.waitScreen(page, 'out-of-service');
    await check('out-of-service');
    await ctl.network(false);
    await ctl.mode('out-of-hours');
    await H.waitScreen(page, 'closed');
    await check('closed');
    await ctl.mode('open');
    await tap('lang-en');
    await page.waitForFunction(() => document.documentElement.lang === 'en' && document.querySelector('h1').textContent === 'Civil document kiosk');
    await check('attract-en');
  } finally {
    perf.push(...(await H.perfEntries(page).catch(() => [])));
    seen[mode] = names;
    await (page.context() === browser.ctx ? page.close() : page.context().close());
  }
  assert.deepEqual(problems, [], `${mode}:\n${problems.join('\n')}`);
}

describe('every screen in every mode', () => {
  for (const m of MODES) test(`${m.mode}: axe, layout, screenshots`, () => tour(m));
});
