"""ISTAT's list of Italian comuni ("Elenco comuni italiani"): read it, find a comune."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from provisioner.adapters.tables import read_csv
from provisioner.errors import InputError
from provisioner.names import closest, fold

ISTAT_URL = "https://www.istat.it/storage/codici-unita-amministrative/Elenco-comuni-italiani.csv"
"""Where ISTAT publishes the list (';'-separated, Windows-1252, header cells with line breaks)."""

COL_CODE = "Codice Comune formato alfanumerico"
COL_NAME = "Denominazione in italiano"
COL_PROVINCE = "Sigla automobilistica"
COL_REGION = "Denominazione Regione"


@dataclass(frozen=True)
class IstatComune:
    """One comune as ISTAT lists it."""

    code: str
    """Six digits, leading zeros kept (``028105``)."""
    name: str
    province: str
    """Sigla automobilistica (``PD``)."""
    region: str

    def label(self) -> str:
        """``Vò (PD, 028105)``."""
        return f"{self.name} ({self.province}, {self.code})"


def read(path: Path) -> list[IstatComune]:
    """Read ISTAT's CSV (any encoding ``tables.decode`` knows; ';' as ISTAT publishes it).

    Raises:
        InputError: unreadable file, or a needed column is missing (named in the message).
    """
    table = read_csv(path, delimiter=";")
    header = [" ".join(cell.split()) for cell in table.header]
    index: dict[str, int] = {}
    for column in (COL_CODE, COL_NAME, COL_PROVINCE, COL_REGION):
        matches = [i for i, cell in enumerate(header) if cell.casefold() == column.casefold()]
        if not matches:
            raise InputError(
                f"{path}: no column {column!r}; is this ISTAT's 'Elenco comuni italiani' CSV "
                f"({ISTAT_URL})?"
            )
        index[column] = matches[0]
    comuni: list[IstatComune] = []
    for line, cells in table.rows:

        def cell(column: str, cells: tuple[str, ...] = cells) -> str:
            i = index[column]
            return cells[i] if i < len(cells) else ""

        code = cell(COL_CODE)
        if not code:
            continue
        if not re.fullmatch(r"\d{1,6}", code):
            raise InputError(f"{path}: line {line}: {COL_CODE}: {code!r} is not an ISTAT code")
        comuni.append(
            IstatComune(code.zfill(6), cell(COL_NAME), cell(COL_PROVINCE), cell(COL_REGION))
        )
    if not comuni:
        raise InputError(f"{path}: no comuni in the file")
    return comuni


def find(comuni: list[IstatComune], query: str) -> IstatComune:
    """The comune named (accent-, case- and apostrophe-blind) or coded by ``query``.

    Raises:
        InputError: unknown (closest names listed) or ambiguous (candidates with province and
            code listed: give the ISTAT code).
    """
    query = query.strip()
    if re.fullmatch(r"\d{1,6}", query):
        code = query.zfill(6)
        for comune in comuni:
            if comune.code == code:
                return comune
        raise InputError(f"ISTAT code {code}: no such comune in the list")
    key = fold(query)
    by_key: dict[str, list[IstatComune]] = {}
    for comune in comuni:
        by_key.setdefault(fold(comune.name), []).append(comune)
    matches = by_key.get(key, [])
    if len(matches) == 1:
        return matches[0]
    if matches:
        candidates = ", ".join(c.label() for c in matches)
        raise InputError(
            f"{query!r} is ambiguous: {candidates}; give the ISTAT code instead of the name"
        )
    close = closest(key, by_key, n=5)
    if close:
        names = ", ".join(c.label() for k in close for c in by_key[k])
        raise InputError(f"no comune named {query!r}; closest: {names}")
    raise InputError(f"no comune named {query!r} in ISTAT's list")
