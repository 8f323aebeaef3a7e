"""One base error for everything the CLI turns into a red line and an exit code."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes, documented in the README."""

    OK = 0
    ERROR = 1
    BAD_INPUT = 2
    HOSTS_FAILED = 3
    HOSTS_UNREACHABLE = 4
    BUSY = 5
    ANSIBLE_ERROR = 6
    DRIFT = 7
    ENVIRONMENT = 8
    HOSTS_OFFLINE = 9
    CANCELLED = 130


class ProvisionerError(Exception):
    """Base error: carries the exit code the CLI should use."""

    exit_code: ExitCode = ExitCode.ERROR

    def lines(self) -> list[str]:
        """Return the message as one or more lines for the terminal."""
        return [str(self)]


class InputError(ProvisionerError):
    """Bad input from the user: flags, host names, files."""

    exit_code = ExitCode.BAD_INPUT


class InventoryProblem:
    """One problem found in a comune's inventory, located by file, host and field."""

    __slots__ = ("field", "file", "host", "message")

    def __init__(self, file: str, message: str, *, field: str = "", host: str = "") -> None:
        self.file = file
        self.field = field
        self.host = host
        self.message = message

    def __str__(self) -> str:
        parts = [self.file]
        if self.host:
            parts.append(f"host {self.host}")
        if self.field:
            parts.append(self.field)
        return ": ".join([*parts, self.message])

    def __repr__(self) -> str:
        return f"InventoryProblem({self!s})"


class InventoryError(InputError):
    """The inventory of a comune is invalid; every problem names file, host and field."""

    def __init__(self, problems: list[InventoryProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    def lines(self) -> list[str]:
        """One line per problem."""
        return [str(p) for p in self.problems]


class AssetListError(InventoryError):
    """Rows of an asset list are invalid; every problem names file and line, host and field."""


class ConflictError(InputError):
    """Imported data disagrees with the inventory; nothing is written unless forced."""

    def __init__(self, headline: str, conflicts: list[str]) -> None:
        self.conflicts = conflicts
        super().__init__(headline)

    def lines(self) -> list[str]:
        """The headline, then one line per conflict."""
        return [str(self), *self.conflicts]


class BusyError(ProvisionerError):
    """Another run holds the comune's lock."""

    exit_code = ExitCode.BUSY


class StateError(ProvisionerError):
    """A file of the state directory is damaged or cannot be written; the message says how to
    recover (exit 1)."""


class AnsibleError(ProvisionerError):
    """Ansible could not run the playbook at all (syntax error, runner failure)."""

    exit_code = ExitCode.ANSIBLE_ERROR


class ControllerError(ProvisionerError):
    """The controller lacks something the tool needs (podman, debootstrap, a key)."""

    exit_code = ExitCode.ENVIRONMENT


class UnsafePathsError(ControllerError):
    """A root schedule would run code or read inventories that other users can change."""

    def __init__(self, headline: str, paths: list[str], fix: str) -> None:
        self.paths = paths
        self.fix = fix
        super().__init__(headline)

    def lines(self) -> list[str]:
        """The headline, the first paths (and how many more), the fix."""
        shown = [f"  {p}" for p in self.paths[:10]]
        if len(self.paths) > 10:
            shown.append(f"  ... and {len(self.paths) - 10} more")
        return [str(self), *shown, self.fix]
