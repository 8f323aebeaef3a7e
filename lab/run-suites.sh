#!/bin/bash
# The lab tests beside everything else that needs no lab, in two chains (their containers,
# networks and temp dirs never overlap), then every output; fails if any failed.
# The lab's modules run one after the other on one lab: the long side (about 35 minutes on two
# cores). The other chain runs in its slack: the Molecule scenarios, test_netgear.py (simulated
# devices of its own on 127.0.0.1), the browser tests, then the unit tests. A browser failure
# stops the lab tests after the test that is running (their session teardown takes the lab
# down). The linters run before both chains (`make test`).
set -u
bin="$(dirname "$0")/../.venv/bin"
out="$(mktemp -d "${TMPDIR:-/tmp}/provisioner-suites.XXXXXX")"
# Read by tests/integration/conftest.py before each test: the lab tests stop once it exists.
export PROVISIONER_SUITE_STOP_FILE="$out/stop"
"$bin/pytest" -ra --durations=0 --basetemp="$out/integration-tmp" tests/integration \
    --ignore=tests/integration/test_netgear.py \
    >"$out/integration.log" 2>&1 &
integration=$!
(
    "$bin/pytest" -ra --durations=0 --basetemp="$out/molecule-tmp" tests/molecule \
        tests/integration/test_netgear.py >"$out/molecule.log" 2>&1
    echo $? >"$out/molecule.rc"
    "$bin/pytest" -ra --basetemp="$out/browser-tmp" tests/browser >"$out/browser.log" 2>&1
    rc=$?
    echo $rc >"$out/browser.rc"
    [ "$rc" -eq 0 ] || { echo "the browser tests failed" >"$PROVISIONER_SUITE_STOP_FILE"; exit; }
    "$bin/pytest" -ra --basetemp="$out/unit-tmp" tests/unit >"$out/unit.log" 2>&1
    echo $? >"$out/unit.rc"
) &
other=$!
wait "$integration"; rc_integration=$?
wait "$other"
rc() { cat "$out/$1.rc" 2>/dev/null || echo "not run"; }
show() { echo "===== $1 (exit $2)"; cat "$out/$3.log" 2>/dev/null; }
show "tests/integration but test_netgear.py" "$rc_integration" integration
show "tests/molecule, then tests/integration/test_netgear.py" "$(rc molecule)" molecule
show "tests/browser, after them" "$(rc browser)" browser
show "tests/unit, after them" "$(rc unit)" unit
[ -f "$out/stop" ] && echo "===== lab tests stopped early: $(cat "$out/stop")"
for part in molecule browser unit; do [ "$(rc "$part")" = 0 ] || exit 1; done
[ "$rc_integration" -eq 0 ]
