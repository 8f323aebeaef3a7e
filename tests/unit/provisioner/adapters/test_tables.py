"""Spreadsheet reading: encodings, delimiters, multi-line cells, line numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.adapters.tables import decode, read_csv, read_table
from provisioner.errors import InputError

TEXT = "Nome;Ufficio\r\nlaptop-01;Città di Sant'Angelo \u2013 Vò\r\n"


@pytest.mark.parametrize(
    ("data", "encoding"),
    [
        (b"\xef\xbb\xbf" + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-8"), "utf-8"),
        (TEXT.encode("cp1252"), "cp1252"),
    ],
)
def test_decode_round_trips_accents_apostrophes_and_en_dash(data: bytes, encoding: str) -> None:
    assert decode(data, "x.csv") == (TEXT, encoding)


def test_decode_refuses_what_no_encoding_fits() -> None:
    with pytest.raises(InputError, match=r"x.csv: not UTF-8 nor Windows-1252 \(byte 0x81"):
        decode(b"Nome\n\x81\n", "x.csv")


def test_rows_are_numbered_by_their_first_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_text(
        'name,note\n\npc-01,"two\nlines"\npc-02,plain\n,\npc-03,"a, b"\n', encoding="utf-8"
    )

    table = read_csv(path)

    assert table.delimiter == ","
    assert table.header == ("name", "note")
    assert table.rows == (
        (3, ("pc-01", "two\nlines")),
        (5, ("pc-02", "plain")),
        (7, ("pc-03", "a, b")),
    )


def test_one_column_file_and_unsupported_formats(tmp_path: Path) -> None:
    path = tmp_path / "one.csv"
    path.write_text("name\npc-01\n", encoding="utf-8")
    assert read_csv(path).rows == ((2, ("pc-01",)),)

    with pytest.raises(InputError, match=r"old \.xls workbooks are not supported"):
        read_table(tmp_path / "old.xls")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"broken\.xlsx: cannot read the workbook"):
        read_table(broken)
    with pytest.raises(InputError, match=r"missing\.csv: cannot read"):
        read_table(tmp_path / "missing.csv")
