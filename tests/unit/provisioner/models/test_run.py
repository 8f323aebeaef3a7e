"""models/run: the exit code of a command over several comuni."""

from __future__ import annotations

from provisioner.errors import ExitCode
from provisioner.models.run import SEVERITY, most_severe


def test_every_exit_code_but_ok_has_a_severity_for_a_command_over_several_comuni() -> None:
    assert set(SEVERITY) == set(ExitCode) - {ExitCode.OK}
    # A laptop left out as offline is no success, and drift outranks it.
    assert most_severe([ExitCode.OK, ExitCode.HOSTS_OFFLINE]) == ExitCode.HOSTS_OFFLINE
    assert most_severe([ExitCode.HOSTS_OFFLINE, ExitCode.DRIFT]) == ExitCode.DRIFT
