#!/bin/bash
# The lab tests and the Molecule scenarios, side by side in two pytest processes (their
# containers, networks and temp dirs never overlap), then both outputs; fails if either failed.
# The lab's modules run one after the other on one lab, the long side: test_netgear.py, which
# needs no lab (simulated devices of its own on 127.0.0.1), runs after the Molecule scenarios.
set -u
bin="$(dirname "$0")/../.venv/bin"
out="$(mktemp -d "${TMPDIR:-/tmp}/provisioner-suites.XXXXXX")"
"$bin/pytest" -ra --durations=0 --basetemp="$out/integration-tmp" tests/integration \
    --ignore=tests/integration/test_netgear.py \
    >"$out/integration.log" 2>&1 &
integration=$!
"$bin/pytest" -ra --durations=0 --basetemp="$out/molecule-tmp" tests/molecule \
    tests/integration/test_netgear.py \
    >"$out/molecule.log" 2>&1 &
molecule=$!
wait "$integration"; rc_integration=$?
wait "$molecule"; rc_molecule=$?
echo "===== tests/integration but test_netgear.py (exit $rc_integration)"; cat "$out/integration.log"
echo "===== tests/molecule, then tests/integration/test_netgear.py (exit $rc_molecule)"; cat "$out/molecule.log"
[ "$rc_integration" -eq 0 ] && [ "$rc_molecule" -eq 0 ]
