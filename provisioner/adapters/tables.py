"""Read spreadsheets (CSV in any usual encoding and delimiter, or .xlsx) as numbered rows."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from provisioner.errors import InputError

_DELIMITERS = ";,\t|"


@dataclass(frozen=True)
class Sheet:
    """A sheet: header cells and data rows, each with the line (or row) where it starts."""

    source: str
    header: tuple[str, ...]
    rows: tuple[tuple[int, tuple[str, ...]], ...]
    encoding: str = ""
    delimiter: str = ""
    unit: str = "line"
    """How positions are named in messages: ``line`` (CSV) or ``row`` (xlsx)."""


def decode(data: bytes, source: str) -> tuple[str, str]:
    """Decode a text file written by Excel, LibreOffice or an editor.

    UTF-8 with BOM, then UTF-8, then Windows-1252 (a superset of Latin-1 for printable text,
    which is what ISTAT and Italian Excel write).

    Returns:
        The text and the encoding used.

    Raises:
        InputError: no encoding fits (the message names the file and the first bad byte).
    """
    if data.startswith(codecs.BOM_UTF8):
        return data.decode("utf-8-sig"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{source}: not UTF-8 nor Windows-1252 (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save it as CSV UTF-8"
        ) from None


def read_csv(path: Path, delimiter: str | None = None) -> Sheet:
    """Read a CSV file, detecting encoding and (unless given) the delimiter.

    Quoted cells may span lines; each row is numbered by the line where it starts.

    Raises:
        InputError: the file cannot be read, decoded or parsed.
    """
    source = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{source}: cannot read: {exc.strerror or exc}") from None
    text, encoding = decode(data, source)
    if not text.strip():
        raise InputError(f"{source}: the file is empty")
    if delimiter is None:
        delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    header: tuple[str, ...] = ()
    rows: list[tuple[int, tuple[str, ...]]] = []
    start = 1
    try:
        for record in reader:
            line = start
            start = reader.line_num + 1
            cells = tuple(cell.strip() for cell in record)
            if not any(cells):
                continue
            if not header:
                header = cells
            else:
                rows.append((line, cells))
    except csv.Error as exc:
        raise InputError(f"{source}: line {reader.line_num}: cannot parse CSV: {exc}") from None
    return Sheet(source, header, tuple(rows), encoding=encoding, delimiter=delimiter)


def _sniff_delimiter(text: str) -> str:
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=_DELIMITERS).delimiter
    except csv.Error:
        # One-column files or very irregular ones: fall back to the most frequent candidate
        # on the header line (Italian Excel writes ';', everything else ',').
        first = text.splitlines()[0]
        return max(_DELIMITERS, key=first.count) if any(d in first for d in _DELIMITERS) else ","


def read_xlsx(path: Path) -> Sheet:
    """Read the first sheet of an .xlsx workbook (cell values, not formulas).

    Raises:
        InputError: the file is not a readable workbook.
    """
    import openpyxl  # noqa: PLC0415 - heavy, only for .xlsx
    from openpyxl.utils.exceptions import InvalidFileException  # noqa: PLC0415

    source = str(path)
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise InputError(f"{source}: cannot read the workbook: {exc}") from None
    try:
        sheet = book.worksheets[0]
        header: tuple[str, ...] = ()
        rows: list[tuple[int, tuple[str, ...]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = tuple(_cell_text(v) for v in values)
            if not any(cells):
                continue
            if not header:
                header = cells
            else:
                rows.append((number, cells))
        return Sheet(f"{source} [{sheet.title}]", header, tuple(rows), encoding="xlsx", unit="row")
    finally:
        book.close()


def _cell_text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_table(path: Path) -> Sheet:
    """A CSV or .xlsx file by its suffix."""
    if path.suffix.lower() in {".xlsx", ".xlsm"}:
        return read_xlsx(path)
    if path.suffix.lower() == ".xls":
        raise InputError(f"{path}: old .xls workbooks are not supported; save it as .xlsx or CSV")
    return read_csv(path)
