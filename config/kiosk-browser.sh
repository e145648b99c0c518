#!/bin/sh
# Starts the touchscreen: Chromium in kiosk mode on the daemon's local page.
# Waits for kiosk-daemon to answer, then runs Chromium with a fresh profile each start
# (nothing of one citizen's session survives into the next boot).
set -eu
URL="${KIOSK_UI_URL:-http://127.0.0.1:7300/}"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
PROFILE="$(mktemp -d /tmp/kiosk-browser.XXXXXX)"
CHILD=""
trap 'rm -rf "$PROFILE"' EXIT
# Stopping the unit stops the browser first, then the profile goes (set before the browser
# starts, so no stop can come between).
trap '[ -n "$CHILD" ] && kill "$CHILD" 2>/dev/null && wait "$CHILD" 2>/dev/null; rm -rf "$PROFILE"; exit 0' INT TERM

i=0
until curl -fsS -o /dev/null "${URL%/}/api/v1/state"; do
  i=$((i + 1)); [ "$i" -gt 120 ] && { echo "kiosk-browser: daemon not answering at $URL" >&2; exit 1; }
  sleep 1
done

# Not exec: the shell stays to remove the profile when Chromium ends or the unit stops
# (after an exec the trap would never run). The enterprise policies of
# config/kiosk-browser/policies.json (installed in /etc/chromium/policies/managed/) allow
# only the daemon's page: no DevTools, no file://, no downloads, no printing dialog, no
# extensions.
"$CHROMIUM" \
  --kiosk "$URL" \
  --user-data-dir="$PROFILE" \
  --no-first-run --no-default-browser-check \
  --disable-background-networking --disable-component-update --disable-sync --disable-quic \
  --disable-translate --disable-features=Translate,TranslateUI,MediaRouter \
  --disable-pinch --overscroll-history-navigation=0 --disable-session-crashed-bubble \
  --noerrdialogs --disable-infobars --password-store=basic \
  --autoplay-policy=no-user-gesture-required \
  --check-for-update-interval=31536000 \
  --lang=ko-KR &
CHILD=$!
wait "$CHILD"
