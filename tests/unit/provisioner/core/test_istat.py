"""ISTAT's list in its published format: read, find by name or code, slugs."""

from __future__ import annotations

from pathlib import Path

import pytest

from provisioner.core import istat
from provisioner.errors import InputError
from provisioner.names import slugify
from tests.unit.provisioner.assets import ISTAT_FIXTURE


@pytest.fixture(scope="module")
def comuni() -> list[istat.IstatComune]:
    """The fixture: ';', Windows-1252, CRLF, header cells with line breaks."""
    return istat.read(ISTAT_FIXTURE)


def test_fixture_is_in_istat_format() -> None:
    data = ISTAT_FIXTURE.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    header = data.decode("cp1252").split("\r\n(valida")[0]
    assert "\"Codice dell'Unità territoriale sovracomunale " in header
    assert data.count(b"\r\n") == 16  # header + 15 comuni


def test_read_keeps_codes_names_and_provinces(comuni: list[istat.IstatComune]) -> None:
    by_code = {c.code: c for c in comuni}

    assert by_code["028105"] == istat.IstatComune("028105", "Vò", "PD", "Veneto")
    assert by_code["028082"].name == "Sant'Angelo di Piove di Sacco"
    assert by_code["001003"].name == "Agliè"
    assert by_code["021008"].name == "Bolzano"  # the Italian name, not "Bolzano/Bozen"
    assert by_code["021008"].region == "Trentino-Alto Adige/Südtirol"
    assert by_code["019013"].name == "Ca' d'Andrea"
    assert len(comuni) == 15


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("Vò", "028105"),
        ("vo", "028105"),
        ("VO'", "028105"),
        ("sant angelo di piove di sacco", "028082"),
        ("Sant'Angelo di Piove di Sacco", "028082"),
        ("Ponte San Nicolo", "028069"),
        ("ca d andrea", "019013"),
        ("028060", "028060"),
        ("28060", "028060"),
        ("1003", "001003"),
    ],
)
def test_find_by_name_accent_blind_or_by_code(
    comuni: list[istat.IstatComune], query: str, code: str
) -> None:
    assert istat.find(comuni, query).code == code


def test_ambiguous_name_lists_candidates(comuni: list[istat.IstatComune]) -> None:
    with pytest.raises(InputError) as err:
        istat.find(comuni, "Samone")

    assert str(err.value) == (
        "'Samone' is ambiguous: Samone (TO, 001235), Samone (TN, 022165); "
        "give the ISTAT code instead of the name"
    )
    assert istat.find(comuni, "022165").province == "TN"


def test_unknown_name_suggests_closest(comuni: list[istat.IstatComune]) -> None:
    with pytest.raises(
        InputError, match=r"no comune named 'Padva'; closest: Padova \(PD, 028060\)"
    ):
        istat.find(comuni, "Padva")
    with pytest.raises(InputError, match="no comune named 'Xyzzy' in ISTAT's list"):
        istat.find(comuni, "Xyzzy")
    with pytest.raises(InputError, match="ISTAT code 099999: no such comune"):
        istat.find(comuni, "099999")


def test_file_that_is_not_istat_names_the_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "comuni.csv"
    path.write_text("Codice;Nome\n028105;Vò\n", encoding="utf-8")

    with pytest.raises(InputError, match="no column 'Codice Comune formato alfanumerico'"):
        istat.read(path)


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Sant'Angelo di Piove di Sacco", "sant-angelo-di-piove-di-sacco"),
        ("Vò", "vo"),
        ("Ca' d'Andrea", "ca-d-andrea"),
        ("Forlì", "forli"),
        ("Bolzano/Bozen", "bolzano-bozen"),
        ("Trentino-Alto Adige/Südtirol", "trentino-alto-adige-sudtirol"),
    ],
)
def test_slugify(name: str, slug: str) -> None:
    assert slugify(name) == slug
