// The physical keypad and the keyboard, through one key map (keymap.json).
// Real keyboard events and the daemon's `device` events of kind `keypad` both end in
// the same handler, with the keypad's key names (up, down, ok, back, 0-9, help, ...).

let byKeyboard = new Map();
export let keymap = { keys: [], slots: [] };

export async function loadKeymap() {
  const r = await fetch('keymap.json');
  keymap = await r.json();
  byKeyboard = new Map();
  for (const k of keymap.keys) for (const kb of k.keyboard) byKeyboard.set(kb, k);
  return keymap;
}

export function actionOf(key) {
  return keymap.keys.find((k) => k.key === key)?.action;
}

/** Calls handler(keyName, event) for keys of the map; leaves typing in text fields alone. */
export function listenKeyboard(handler) {
  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.altKey || e.metaKey || e.isComposing) return;
    const k = byKeyboard.get(e.key);
    if (!k) return;
    const t = e.target;
    const typing = t instanceof HTMLInputElement && ['text', 'search'].includes(t.type);
    if (typing) {
      // In a text field, characters, Backspace and the left/right arrows edit the text.
      if (k.action === 'digit' || k.action === 'help' || k.action === 'replay' || k.action.startsWith('volume')) return;
      if (e.key === 'Backspace' && t.value !== '') return;
      if ((e.key === 'ArrowLeft' || e.key === 'ArrowRight') && t.value !== '') return;
    }
    // Enter and Space on a focused button are the browser's own "click": Enter goes through
    // the handler (same path as the keypad's OK), Space is left to the browser.
    e.preventDefault();
    handler(k.key, e);
  });
}

/** Every control the arrow keys visit, in document (= visual) order. */
export function focusables(root = document) {
  const dlg = document.querySelector('dialog[open]');
  const scope = dlg || root;
  return [...scope.querySelectorAll('button, input, select, textarea, a[href], [tabindex="0"]')].filter((el) => {
    if (el.disabled || el.closest('[hidden], [inert]')) return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  });
}

export function moveFocus(step) {
  const list = focusables();
  if (!list.length) return null;
  const i = list.indexOf(document.activeElement);
  const j = i === -1 ? (step > 0 ? 0 : list.length - 1) : (i + step + list.length) % list.length;
  list[j].focus();
  list[j].scrollIntoView({ block: 'nearest' });
  return list[j];
}
