// Shared by the browser tests: Chromium, the page, waiting on screens, speech, axe,
// screenshots and the figures (touch-to-paint, bytes per screen).

import { chromium } from 'playwright-core';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '..', '..');
export const ARTIFACTS = process.env.UI_ARTIFACTS || path.join(ROOT, 'artifacts', 'ui');
export const AXE_SOURCE = readFileSync(path.join(HERE, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

export const PORTRAIT = { width: 1080, height: 1920 };
export const LANDSCAPE = { width: 1920, height: 1080 };

export async function launchBrowser() {
  const userDataDir = mkdtempSync(path.join(tmpdir(), 'kiosk-ui-chromium-'));
  const ctx = await chromium.launchPersistentContext(userDataDir, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    viewport: PORTRAIT,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required', '--lang=ko-KR'],
  });
  // The persistent context is the browser here: pages of other sizes come from new contexts
  // of a second, non-persistent browser only when a test needs a deviceScaleFactor.
  return {
    ctx,
    async close() { await ctx.close(); rmSync(userDataDir, { recursive: true, force: true }); },
  };
}

let scaled = null;
/** A page at a given viewport and device scale factor (browser zoom emulation). */
export async function newPage(browser, { viewport = PORTRAIT, deviceScaleFactor = 1 } = {}) {
  let page;
  if (deviceScaleFactor === 1) {
    page = await browser.ctx.newPage();
    await page.setViewportSize(viewport);
  } else {
    scaled ||= await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium', headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', '--autoplay-policy=no-user-gesture-required'],
    });
    const ctx = await scaled.newContext({ viewport, deviceScaleFactor });
    page = await ctx.newPage();
  }
  page.setDefaultTimeout(8000);
  const consoleLines = [];
  page.on('console', (m) => consoleLines.push(m.text()));
  page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
  page.consoleLines = consoleLines;
  return page;
}
export async function closeScaled() { if (scaled) { await scaled.close(); scaled = null; } }

export async function open(page, url) {
  await page.goto(`${url}/`);
  await page.waitForFunction(() => document.body.dataset.screen && document.body.dataset.screen !== 'loading');
}

export async function screen(page) { return page.evaluate(() => document.body.dataset.screen); }
export async function waitScreen(page, name, timeout = 5000) {
  await page.waitForFunction((n) => document.body.dataset.screen === n, name, { timeout }).catch(async (e) => {
    throw new Error(`expected screen ${name}, still on ${await screen(page)}: ${e.message.split('\n')[0]}`);
  });
}

/** Everything written to the caption log so far. */
export async function spoken(page) {
  return page.evaluate(() => [...document.querySelectorAll('#speech-log p')].map((p) => p.textContent));
}
export async function clearSpoken(page) { await page.evaluate(() => document.querySelector('#speech-log').replaceChildren()); }
export async function waitSpoken(page, fragment, timeout = 4000) {
  await page.waitForFunction((f) => [...document.querySelectorAll('#speech-log p')].some((p) => p.textContent.includes(f)), fragment, { timeout })
    .catch(async () => { throw new Error(`never spoken: "${fragment}"; log: ${JSON.stringify((await spoken(page)).slice(-8))}`); });
}

export async function setMode(page, mode) {
  if (mode === 'zoom') await page.click('[data-fid="zoom"]');
  if (mode === 'low') await page.click('[data-fid="low"]');
  if (mode === 'contrast') await page.click('[data-fid="contrast"]');
}

/** Runs axe-core on the page; returns the violations (the caller asserts none). */
export async function axe(page, { enhanced = false } = {}) {
  await page.evaluate(AXE_SOURCE);
  return page.evaluate(async (enh) => {
    const r = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa', 'best-practice', ...(enh ? ['wcag2aaa'] : [])] },
      rules: { 'color-contrast-enhanced': { enabled: enh } },
    });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map((n) => `${n.target.join(' ')}: ${n.failureSummary}`) }));
  }, enhanced);
}

/** Layout checks for the magnified modes: nothing wider than the screen, no clipped text. */
export async function layoutProblems(page) {
  return page.evaluate(() => {
    const out = [];
    const de = document.documentElement;
    if (de.scrollWidth > de.clientWidth) out.push(`page scrolls sideways: ${de.scrollWidth} > ${de.clientWidth}`);
    const app = document.querySelector('#app');
    if (app.scrollWidth > app.clientWidth) out.push(`#app scrolls sideways: ${app.scrollWidth} > ${app.clientWidth}`);
    const vw = de.clientWidth;
    for (const el of document.querySelectorAll('button, input, h1, h2, p, li, dt, dd, legend, label, output')) {
      if (el.closest('[hidden], dialog:not([open]), #display')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      if (r.left < -1 || r.right > vw + 1) out.push(`off screen sideways: ${el.tagName} "${el.textContent.trim().slice(0, 30)}" ${Math.round(r.left)}..${Math.round(r.right)} of ${vw}`);
      if (el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible') out.push(`clipped text: ${el.tagName} "${el.textContent.trim().slice(0, 30)}"`);
      if (el.matches('button') && (r.height < 60 || r.width < 60)) out.push(`small target: "${el.textContent.trim().slice(0, 20)}" ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    return out;
  });
}

/** Every control can be scrolled to and then lies fully within the viewport. */
export async function everyControlReachable(page) {
  return page.evaluate(async () => {
    const bad = [];
    const list = [...document.querySelectorAll('#app button, #app input')].filter((el) => !el.closest('[hidden]'));
    for (const el of list) {
      el.scrollIntoView({ block: 'center' });
      await new Promise(requestAnimationFrame);
      const r = el.getBoundingClientRect();
      const vh = window.innerHeight;
      const vw = document.documentElement.clientWidth;
      if (r.top < -1 || r.bottom > vh + 1 || r.left < -1 || r.right > vw + 1) bad.push(`${el.textContent.trim().slice(0, 20)} ${Math.round(r.left)},${Math.round(r.top)} ${Math.round(r.width)}x${Math.round(r.height)}`);
    }
    window.scrollTo(0, 0);
    document.querySelector('#app').scrollTop = 0;
    return bad;
  });
}

/** Low position: every control visible at rest lies in the lower half of the screen. */
export async function controlsAboveHalf(page) {
  return page.evaluate(() => {
    const vh = window.innerHeight;
    const bad = [];
    for (const el of document.querySelectorAll('button, input, [tabindex="0"]')) {
      if (el.closest('[hidden], dialog:not([open])')) continue;
      const r = el.getBoundingClientRect();
      if (r.width === 0 || r.height === 0) continue;
      if (r.bottom <= 0 || r.top >= vh) continue; // scrolled out of the lower panel
      // Inside the low panel, only the part not scrolled away counts.
      const clip = getComputedStyle(document.querySelector('#app')).overflowY === 'auto' ? el.closest('#app')?.getBoundingClientRect() : null;
      if (clip && r.bottom <= clip.top + 1) continue;
      const top = clip ? Math.max(r.top, clip.top) : r.top;
      if (top < vh / 2 - 1) bad.push(`${el.textContent.trim().slice(0, 20) || el.id} top=${Math.round(top)}`);
    }
    return bad;
  });
}

export async function shot(page, mode, name) {
  const dir = path.join(ARTIFACTS, 'screens', mode);
  mkdirSync(dir, { recursive: true });
  await page.screenshot({ path: path.join(dir, `${name}.png`) });
}

/** Bytes transferred to show the page as it is now (HTML, scripts, styles, strings, the
    catalog), each file once, without the event stream and speech audio. */
export async function pageBytes(page) {
  return page.evaluate(() => {
    const nav = performance.getEntriesByType('navigation')[0];
    let total = nav ? (nav.transferSize || nav.encodedBodySize) : 0;
    const files = {};
    for (const e of performance.getEntriesByType('resource')) {
      if (/\/api\/v1\/(events|speech|session|help)/.test(e.name)) continue;
      // A file fetched again (the catalog, each session) counts once: its newest size.
      files[new URL(e.name).pathname] = e.transferSize || e.encodedBodySize;
    }
    for (const n of Object.values(files)) total += n;
    return { total, files };
  });
}

export async function perfEntries(page) { return page.evaluate(() => window.__kiosk?.perf || []); }

/** Appends figures from one test file; figures.mjs merges them. */
export function writeFigurePart(name, data) {
  const dir = path.join(ARTIFACTS, 'parts');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, `${name}.json`), JSON.stringify(data, null, 1));
}

export function assertNoViolations(v, where) {
  assert.deepEqual(v, [], `axe violations on ${where}:\n${JSON.stringify(v, null, 1)}`);
}
