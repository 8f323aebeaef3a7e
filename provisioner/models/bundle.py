"""Enrolment bundles: what `bundle create`, `bundle list` and `bundle revoke` hand back."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from provisioner.errors import ExitCode
from provisioner.models.run import BundleStatus, RunReport


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle, in memory until the bundle is sealed."""

    name: str
    media_type: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class BundleCreated:
    """A bundle issued (or not, when the run adding its peer failed)."""

    comune: str
    name: str
    user: str
    address: str
    report: RunReport
    path: Path | None = None
    """The sealed bundle page, written once (None: nothing was issued)."""
    passphrase: str = field(default="", repr=False)
    """The one-time passphrase, shown once by the CLI and kept nowhere."""
    files: tuple[str, ...] = ()
    """Names of the files inside the bundle."""
    notes: tuple[str, ...] = ()

    @property
    def exit_code(self) -> ExitCode:
        """The run's exit code; a run that succeeded without a bundle is an error."""
        code = self.report.exit_code
        return ExitCode.ERROR if code == ExitCode.OK and self.path is None else code


@dataclass(frozen=True)
class BundleRevoked:
    """A bundle revoked: the peer-removing run (if any) and what left the inventory."""

    comune: str
    name: str
    address: str | None
    report: RunReport | None
    removed: bool

    @property
    def exit_code(self) -> ExitCode:
        """The run's exit code, or OK when no run was needed."""
        return self.report.exit_code if self.report is not None else ExitCode.OK


@dataclass(frozen=True)
class BundleList:
    """A comune's bundles' devices, as the terminator saw them now (or as last remembered)."""

    comune: str
    terminator: str
    bundles: tuple[BundleStatus, ...]
    note: str = ""
    """Why the terminator's peers were not read now (then last seen is what history recalls)."""
