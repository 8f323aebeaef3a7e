#!/bin/bash
# Opens a real RDP session with xfreerdp3 on a private Xvfb display whose screen Xvfb keeps as a
# live XWD file (-fbdir). rdp_screen.py polls that file every second until the remote desktop
# shows (its background BACKGROUND over half the screen; then up to 10 s more for the session's
# terminal window on it) or WAIT seconds have passed, and saves that capture as the PNG SHOT; the session then stays up until the
# file $SHOT.stop appears (which also ends the polling), the client ends, or HOLD more seconds
# have passed. The connection arguments come one per line in $RDP_ARGS (the password stays off
# the command line).
# Exit 0: the remote desktop was seen; 1: xfreerdp3 ended early; 2: never seen within WAIT;
# 3: stopped before it was seen.
set -u
display=:42
stop="$SHOT.stop"
rm -f "$stop"
fbdir=$(mktemp -d /tmp/rdp-fb.XXXXXX)
Xvfb "$display" -screen 0 1024x768x24 -fbdir "$fbdir" -nolisten tcp >/tmp/rdp-xvfb.log 2>&1 &
xvfb=$!
trap 'kill "$xvfb" 2>/dev/null; wait "$xvfb" 2>/dev/null; rm -rf "$fbdir"' EXIT
for _ in $(seq 50); do
  [ -e "/tmp/.X11-unix/X${display#:}" ] && break
  sleep 0.1
done
DISPLAY="$display" xfreerdp3 /args-from:env:RDP_ARGS >/tmp/rdp-client.log 2>&1 &
client=$!
python3 /usr/local/bin/rdp_screen.py watch "$fbdir/Xvfb_screen0" "$SHOT" "$BACKGROUND" \
  --deadline "$WAIT" --interval 1 --pid "$client" --stop "$stop"
seen=$?
if [ "$seen" -eq 1 ]; then
  echo "xfreerdp3 ended early:" >&2
  tail -20 /tmp/rdp-client.log >&2
fi
if [ "$seen" -eq 0 ]; then
  for _ in $(seq "$HOLD"); do
    [ -e "$stop" ] && break
    kill -0 "$client" 2>/dev/null || break
    sleep 1
  done
fi
kill "$client" 2>/dev/null
wait "$client" 2>/dev/null
exit "$seen"
