"""Names: accent- and case-blind keys, slugs, and "did you mean" hints for unknown names."""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Callable, Iterable


def fold(text: str) -> str:
    """Lowercase ASCII words: accents dropped, punctuation to spaces (``Città`` -> ``citta``)."""
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    )
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


def slugify(name: str) -> str:
    """Inventory slug of a name: ASCII-folded lowercase words joined by hyphens (max 63)."""
    return "-".join(fold(name).split())[:63].rstrip("-")


def closest(name: str, known: Iterable[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The known names closest to ``name``, best first (at most ``n``)."""
    return difflib.get_close_matches(name, sorted(set(known)), n=n, cutoff=cutoff)


def did_you_mean(
    name: str,
    known: Iterable[str],
    *,
    n: int = 3,
    label: Callable[[str], str] = str,
    style: str = "; did you mean {}?",
) -> str:
    """A hint naming the closest known names (``"; did you mean a, b?"``), or ``""``.

    ``label`` shows each name (e.g. with its comune); ``style`` places the list in the message.
    """
    close = closest(name, known, n=n)
    return style.format(", ".join(label(c) for c in close)) if close else ""
