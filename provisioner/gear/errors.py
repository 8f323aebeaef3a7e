"""Why a device was not converged: one error family, each message naming the device."""

from __future__ import annotations


class GearError(Exception):
    """The device could not be reached, logged into, read, or trusted; or the run refused."""


class IntentError(GearError):
    """The inputs are not fit to become device configuration (e.g. a malformed public key)."""


class HostKeyError(GearError):
    """The device's SSH host key is unknown or changed: refused before logging in."""


class ConflictError(GearError):
    """The device holds something the tool must not overwrite (another ACL bound, a lock)."""
