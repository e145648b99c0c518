// The one place the browser tests touch the kiosk other than through the page.
//
// By default the tests start tests/ui/stub-daemon.mjs on a free port and drive it with
// the stub's /__test/* hooks below. To run the same tests against the real daemon:
//
//   KIOSK_URL=http://127.0.0.1:7300 KIOSK_CONTROL=/path/to/real-control.mjs ./scripts/test-ui
//
// where real-control.mjs exports `createControl(baseUrl)` returning an object with the
// same methods as `stubControl` (driving the device simulators and egov-sim instead).

import { createStub } from './stub-daemon.mjs';

/** Control of the stub daemon through its /__test/* hooks. */
export function stubControl(baseUrl) {
  const hook = async (name, body = {}) => {
    const r = await fetch(`${baseUrl}/__test/${name}`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
    });
    const j = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(`hook ${name}: ${r.status} ${JSON.stringify(j)}`);
    return j;
  };
  return {
    /** Back to a fresh kiosk: open, no session, court documents unavailable, no faults. */
    reset: () => hook('reset'),
    /** A coin into the acceptor (10, 50, 100, 500). */
    insertCoin: (won) => hook('insert', { won }),
    /** A note into the validator (1000, 5000, 10000, 50000). */
    insertNote: (won) => hook('note', { won }),
    /** The next printed page jams. */
    jamPrinter: () => hook('jam'),
    /** The e-government network goes down (true) or comes back (false). */
    network: (down) => hook('network', { down }),
    /** One agency's back end down or up (its documents turn unavailable). */
    agency: (agency, down) => hook('agency', { agency, down }),
    /** Forces the kiosk mode: open, out-of-hours, out-of-service, restarting. */
    mode: (mode, reason) => hook('mode', { mode, reason }),
    /** Hoppers low: exact amounts only. */
    exactAmountOnly: (on) => hook('exact-amount', { on }),
    /** Hoppers empty: change cannot be paid (an IOU). */
    hopperEmpty: (on) => hook('hopper-empty', { on }),
    /** How long fetching and each printed page take (to catch those screens). */
    delays: (fetchMs, pageMs) => hook('delays', { fetch_ms: fetchMs, page_ms: pageMs }),
    /** The fingerprint scanner reads a finger that matches (true) or not (false). */
    fingerprint: (match) => hook('finger', { match }),
    /** The session's inactivity timer warns (guidance timeout-warning). */
    timeoutWarning: (seconds = 30) => hook('timeout-warning', { seconds }),
    /** The session's inactivity timer runs out. */
    timeout: () => hook('timeout'),
    /** Earphones plugged in or out (SSE device event + kiosk.earphone). */
    earphone: (inserted) => hook('earphone', { inserted }),
    /** A key of the physical keypad (SSE device event kind keypad). */
    keypad: (key) => hook('keypad', { key }),
    /** How many times staff were called (POST /api/v1/help). */
    helpCalls: async () => (await hook('info')).helpCalls,
  };
}

/**
 * Starts (or finds) the kiosk under test. Returns {url, ctl, close}.
 */
export async function startKiosk() {
  if (process.env.KIOSK_URL) {
    const url = process.env.KIOSK_URL.replace(/\/$/, '');
    if (!process.env.KIOSK_CONTROL) throw new Error('KIOSK_URL needs KIOSK_CONTROL: a module exporting createControl(url)');
    const mod = await import(new URL(process.env.KIOSK_CONTROL, `file://${process.cwd()}/`).href);
    return { url, ctl: await mod.createControl(url), close: async () => {} };
  }
  const stub = createStub();
  const url = await stub.listen(0);
  return { url, ctl: stubControl(url), close: () => stub.close() };
}
