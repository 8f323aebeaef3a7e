#!/bin/bash
# The lab tests and the Molecule scenarios, side by side in two pytest processes (their
# containers, networks and temp dirs never overlap), then both outputs; fails if either failed.
set -u
bin="$(dirname "$0")/../.venv/bin"
out="$(mktemp -d "${TMPDIR:-/tmp}/provisioner-suites.XXXXXX")"
"$bin/pytest" -ra --durations=0 --basetemp="$out/integration-tmp" tests/integration \
    >"$out/integration.log" 2>&1 &
integration=$!
"$bin/pytest" -ra --durations=0 --basetemp="$out/molecule-tmp" tests/molecule \
    >"$out/molecule.log" 2>&1 &
molecule=$!
wait "$integration"; rc_integration=$?
wait "$molecule"; rc_molecule=$?
echo "===== tests/integration (exit $rc_integration)"; cat "$out/integration.log"
echo "===== tests/molecule (exit $rc_molecule)"; cat "$out/molecule.log"
[ "$rc_integration" -eq 0 ] && [ "$rc_molecule" -eq 0 ]
