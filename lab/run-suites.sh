#!/bin/bash
# The lab tests beside the Molecule scenarios and the unit tests, in two pytest chains (their
# containers, networks and temp dirs never overlap), then every output; fails if any failed.
# The lab's modules run one after the other on one lab, the long side (about 75 minutes on two
# cores). The other chain runs what needs no lab after the Molecule scenarios, in that slack:
# test_netgear.py (simulated devices of its own on 127.0.0.1), then the unit tests.
set -u
bin="$(dirname "$0")/../.venv/bin"
out="$(mktemp -d "${TMPDIR:-/tmp}/provisioner-suites.XXXXXX")"
"$bin/pytest" -ra --durations=0 --basetemp="$out/integration-tmp" tests/integration \
    --ignore=tests/integration/test_netgear.py \
    >"$out/integration.log" 2>&1 &
integration=$!
(
    "$bin/pytest" -ra --durations=0 --basetemp="$out/molecule-tmp" tests/molecule \
        tests/integration/test_netgear.py >"$out/molecule.log" 2>&1
    echo $? >"$out/molecule.rc"
    "$bin/pytest" -ra --basetemp="$out/unit-tmp" tests/unit >"$out/unit.log" 2>&1
    echo $? >"$out/unit.rc"
) &
other=$!
wait "$integration"; rc_integration=$?
wait "$other"
rc_molecule=$(cat "$out/molecule.rc" 2>/dev/null || echo 1)
rc_unit=$(cat "$out/unit.rc" 2>/dev/null || echo 1)
echo "===== tests/integration but test_netgear.py (exit $rc_integration)"; cat "$out/integration.log"
echo "===== tests/molecule, then tests/integration/test_netgear.py (exit $rc_molecule)"; cat "$out/molecule.log"
echo "===== tests/unit, after them (exit $rc_unit)"; cat "$out/unit.log"
[ "$rc_integration" -eq 0 ] && [ "$rc_molecule" -eq 0 ] && [ "$rc_unit" -eq 0 ]
