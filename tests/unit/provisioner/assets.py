"""Asset lists and file snapshots shared by the import tests."""

from __future__ import annotations

from pathlib import Path

ISTAT_FIXTURE = Path(__file__).parent / "data" / "istat_elenco_comuni.csv"
"""ISTAT's format: ';', Windows-1252, CRLF, header cells with line breaks; 15 real comuni."""

HEADER = "Nome;Indirizzo IP;Sistema operativo;Utente;Ufficio;Tipo"

CLEAN_ROWS = [
    "laptop-sindaco;DHCP;Windows 11;Niccolò D'Alò;Segreteria del Sindaco;portatile",
    "pc-anagrafe-01;192.168.10.21;Windows 10;Lucia Favà;Anagrafe e Stato civile;desktop",
    'pc-tributi-02;192.168.10.23;Windows 11;Andrea Dell\'Orto;"Ufficio Tributi; sportello";fisso',
    "laptop-ragioneria;dhcp;Debian 13;Zoë Perù;Ragioneria;laptop",
    "sw-piano-terra;192.168.10.3;;;CED;dispositivo",
    "gw-vpn-01;203.0.113.10;Debian 13;;CED;gateway",
]
"""A realistic, valid list for comune ``castelnuovo`` (lines 2-7 after the header)."""

BAD_ROWS = [
    CLEAN_ROWS[0],  # line 2
    CLEAN_ROWS[1],  # line 3
    "laptop-vicesindaco;192.168.10.300;Windows 11;Maria Sant'Ambrogio;Giunta;portatile",  # 4
    "pc-anagrafe-01;192.168.10.24;Windows 11;Lucia Favà;Anagrafe;desktop",  # 5: duplicate
    "stampante-01;192.168.10.40;;;Protocollo;stampante",  # 6: unknown kind
    CLEAN_ROWS[5],  # line 7
]


def csv_bytes(
    rows: list[str], *, encoding: str = "utf-8", bom: bool = False, sep: str = ";"
) -> bytes:
    """An asset list as Excel writes it (CRLF), optionally with a BOM and another separator."""
    text = "\r\n".join([HEADER, *rows]) + "\r\n"
    if sep != ";":
        text = text.replace(";", sep)
    data = text.encode(encoding)
    return b"\xef\xbb\xbf" + data if bom else data


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` with its bytes (to prove nothing was written)."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
