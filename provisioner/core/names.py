"""Accent- and case-blind comparison keys and slugs for Italian names."""

from __future__ import annotations

import re
import unicodedata


def fold(text: str) -> str:
    """Lowercase ASCII words: accents dropped, punctuation to spaces (``Città`` -> ``citta``)."""
    ascii_text = (
        unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    )
    return " ".join(re.sub(r"[^a-z0-9]+", " ", ascii_text).split())


def slugify(name: str) -> str:
    """Inventory slug of a name: ASCII-folded lowercase words joined by hyphens (max 63)."""
    return "-".join(fold(name).split())[:63].rstrip("-")
