#!/bin/bash
# Opens a real RDP session with xfreerdp3 on a private Xvfb display, screenshots the display after
# SHOT_AFTER seconds (to SHOT), keeps the session up HOLD more seconds, then ends it.
# The connection arguments come one per line in $RDP_ARGS (the password stays off the command line).
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
sleep "$SHOT_AFTER"
if ! kill -0 "$client" 2>/dev/null; then
  echo "xfreerdp3 ended early:" >&2
  tail -20 /tmp/rdp-client.log >&2
  exit 1
fi
DISPLAY="$display" import -window root "$SHOT"
sleep "$HOLD"
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null
exit 0
