#!/bin/bash
# Opens a real RDP session with xfreerdp3 on a private Xvfb display. Every 2 s it screenshots the
# display to SHOT until the remote desktop's background (BACKGROUND) covers a fifth of the screen
# or WAIT seconds have passed; then keeps the session up HOLD more seconds and ends it.
# The connection arguments come one per line in $RDP_ARGS (the password stays off the command line).
# Exit 0: the remote desktop was seen; 1: xfreerdp3 ended early; 2: never seen within WAIT.
set -u
display=:42
Xvfb "$display" -screen 0 1024x768x24 -nolisten tcp >/tmp/rdp-xvfb.log 2>&1 &
xvfb=$!
trap 'kill "$xvfb" 2>/dev/null' EXIT
for _ in $(seq 50); do
  [ -e "/tmp/.X11-unix/X${display#:}" ] && break
  sleep 0.1
done
DISPLAY="$display" xfreerdp3 /args-from:env:RDP_ARGS >/tmp/rdp-client.log 2>&1 &
client=$!
seen=2
for _ in $(seq $((WAIT / 2))); do
  sleep 2
  if ! kill -0 "$client" 2>/dev/null; then
    echo "xfreerdp3 ended early:" >&2
    tail -20 /tmp/rdp-client.log >&2
    exit 1
  fi
  DISPLAY="$display" import -window root "$SHOT"
  share=$(convert "$SHOT" -fuzz 3% -fill '#000000' +opaque "$BACKGROUND" \
    -fill '#ffffff' -opaque "$BACKGROUND" -format '%[fx:mean]' info:)
  if awk -v s="$share" 'BEGIN { exit !(s > 0.2) }'; then
    seen=0
    break
  fi
done
sleep "$HOLD"
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null
exit "$seen"
