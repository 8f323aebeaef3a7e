#!/usr/bin/env python3
"""Screenshots of the RDP client's Xvfb screen: watch until the remote desktop shows, measure a PNG.

Standard library only (the client image has python3 and nothing else for images): Xvfb's
``-fbdir`` keeps the screen as a live XWD file, which this script reads; it writes and reads
8-bit RGB PNG files itself (zlib + struct).

  watch XWD PNG BACKGROUND  poll the screen until the remote session's background covers
                            --min-share of it and it shows at least --min-colours colours,
                            then up to --settle seconds more until a window (the session's
                            terminal) covers the rest beyond --max-share;
                            save that capture as PNG (exit 0). Exit 1 if --pid ends first,
                            2 at --deadline, 3 when the file --stop appears (the last capture
                            is saved then, for the post-mortem).
  measure IMAGE BACKGROUND  print the size, colour count and background share of a PNG
                            written by this script (or of an XWD file) as JSON.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
import time
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path

# A colour within this distance per channel counts as the background (RDP codecs may round).
TOLERANCE = 8
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
XWD_HEADER = struct.Struct(">25I")
XWD_COLOR_SIZE = 12
XWD_VERSION = 7
Z_PIXMAP = 2


class ImageError(Exception):
    """The file is not an image this script can read (or not complete yet)."""


@dataclass(frozen=True)
class Image:
    """An 8-bit RGB image, rows top to bottom, no padding."""

    width: int
    height: int
    rgb: bytes


@dataclass(frozen=True)
class Stats:
    """What the checks look at."""

    width: int
    height: int
    colours: int
    background_share: float


def _shift(mask: int) -> int:
    """Bit position of a byte-aligned 8-bit channel mask."""
    for shift in (0, 8, 16, 24):
        if mask == 0xFF << shift:
            return shift
    raise ImageError(f"unsupported channel mask {mask:#x}")


def read_xwd(data: bytes) -> Image:
    """Decode a ZPixmap XWD image of 24 or 32 bits per pixel (Xvfb -fbdir, xwd)."""
    if len(data) < XWD_HEADER.size:
        raise ImageError("XWD header truncated")
    head = XWD_HEADER.unpack_from(data)
    (header_size, version, pixmap_format, _depth, width, height, _xoffset, byte_order) = head[:8]
    bits_per_pixel, bytes_per_line, _visual, red, green, blue = head[11:17]
    ncolors = head[19]
    if version != XWD_VERSION or pixmap_format != Z_PIXMAP or bits_per_pixel not in (24, 32):
        raise ImageError(
            f"unsupported XWD (version {version}, format {pixmap_format}, {bits_per_pixel} bpp)"
        )
    offset = header_size + ncolors * XWD_COLOR_SIZE
    if len(data) < offset + height * bytes_per_line:
        raise ImageError("XWD pixels truncated")
    step = bits_per_pixel // 8
    # Byte index of each channel inside a pixel: LSBFirst (0) puts the low byte first.
    index = [
        _shift(mask) // 8 if byte_order == 0 else step - 1 - _shift(mask) // 8
        for mask in (red, green, blue)
    ]
    rgb = bytearray(width * height * 3)
    row_len = width * step
    for y in range(height):
        row = data[offset + y * bytes_per_line : offset + y * bytes_per_line + row_len]
        out = y * width * 3
        for channel, i in enumerate(index):
            rgb[out + channel : out + width * 3 : 3] = row[i::step]
    return Image(width, height, bytes(rgb))


def _chunk(kind: bytes, body: bytes) -> bytes:
    return (
        struct.pack(">I", len(body))
        + kind
        + body
        + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    )


def write_png(image: Image, path: Path) -> None:
    """Write an 8-bit RGB PNG (filter 0 on every row), atomically."""
    row = image.width * 3
    raw = b"".join(b"\x00" + image.rgb[y * row : (y + 1) * row] for y in range(image.height))
    ihdr = struct.pack(">IIBBBBB", image.width, image.height, 8, 2, 0, 0, 0)
    body = (
        PNG_SIGNATURE
        + _chunk(b"IHDR", ihdr)
        + _chunk(b"IDAT", zlib.compress(raw, 6))
        + _chunk(b"IEND", b"")
    )
    tmp = path.with_name(path.name + ".part")
    tmp.write_bytes(body)
    tmp.replace(path)


def read_png(data: bytes) -> Image:
    """Decode an 8-bit RGB, non-interlaced PNG whose rows all use filter 0 (as write_png does)."""
    if not data.startswith(PNG_SIGNATURE):
        raise ImageError("not a PNG file")
    pos = len(PNG_SIGNATURE)
    header = b""
    idat = []
    while pos + 8 <= len(data):
        length, kind = struct.unpack_from(">I4s", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise ImageError(f"bad CRC in the {kind.decode(errors='replace')} chunk")
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + length
    if len(header) != 13:
        raise ImageError("no IHDR chunk")
    width, height, bit_depth, colour_type, _comp, _filter, interlace = struct.unpack(
        ">IIBBBBB", header
    )
    if (bit_depth, colour_type, interlace) != (8, 2, 0):
        raise ImageError("only 8-bit RGB non-interlaced PNG files are read")
    raw = zlib.decompress(b"".join(idat))
    row = width * 3
    if len(raw) != height * (row + 1):
        raise ImageError("PNG pixel data has the wrong size")
    if any(raw[y * (row + 1)] != 0 for y in range(height)):
        raise ImageError("PNG rows use filters other than 0 (not written by this script)")
    rgb = b"".join(raw[y * (row + 1) + 1 : (y + 1) * (row + 1)] for y in range(height))
    return Image(width, height, rgb)


def read_image(path: Path) -> Image:
    """A PNG or XWD file, by its content."""
    data = path.read_bytes()
    return read_png(data) if data.startswith(PNG_SIGNATURE) else read_xwd(data)


def parse_colour(text: str) -> tuple[int, int, int]:
    """``#rrggbb`` -> (r, g, b)."""
    value = text.strip().removeprefix("#")
    if len(value) != 6:
        raise argparse.ArgumentTypeError(f"not a #rrggbb colour: {text!r}")
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a #rrggbb colour: {text!r}") from exc


def measure(image: Image, background: tuple[int, int, int]) -> Stats:
    """Distinct colours, and the share of pixels within TOLERANCE of the background."""
    pixels = image.width * image.height
    if pixels == 0:
        return Stats(image.width, image.height, 0, 0.0)
    # One byte per pixel and channel: 1 when that channel is near the background's, else 0;
    # the three masks ANDed as big integers give the matching pixels' bits.
    match = -1
    for channel, target in enumerate(background):
        table = bytes(1 if abs(v - target) <= TOLERANCE else 0 for v in range(256))
        match &= int.from_bytes(image.rgb[channel::3].translate(table), "big")
    rgbx = bytearray(pixels * 4)
    for channel in range(3):
        rgbx[channel::4] = image.rgb[channel::3]
    colours = len(set(memoryview(rgbx).cast("I")))
    return Stats(image.width, image.height, colours, round(match.bit_count() / pixels, 4))


def _alive(pid: int | None) -> bool:
    """Whether the process runs (a zombie, not waited for yet by its parent, has ended)."""
    if pid is None:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def watch(args: argparse.Namespace) -> int:
    """Poll the screen until the remote desktop shows; save the capture as PNG.

    Once the background is seen, polling goes on up to --settle seconds for a capture that also
    shows a window on it (the session's terminal); the best capture is saved either way.
    """
    end = time.monotonic() + args.deadline
    last: Image | None = None
    seen: tuple[Image, Stats] | None = None
    settle_end = end
    polls = 0
    while True:
        if args.stop is not None and args.stop.exists():
            if last is not None:
                write_png(last, args.png)
            print(json.dumps({"result": "stopped", "polls": polls}))
            return 3
        if not _alive(args.pid):
            print(json.dumps({"result": "client ended", "polls": polls}))
            return 1
        try:
            image = read_image(args.screen)
        except (OSError, ImageError):
            image = None
        if image is not None:
            polls += 1
            last = image
            stats = measure(image, args.background)
            window = stats.background_share <= args.max_share and stats.colours >= 16
            if stats.background_share >= args.min_share and stats.colours >= args.min_colours:
                if seen is None:
                    settle_end = min(end, time.monotonic() + args.settle)
                seen = (image, stats)
                if window:
                    break
        if seen is not None and time.monotonic() >= settle_end:
            break
        if time.monotonic() >= end:
            if last is not None:
                write_png(last, args.png)
            result = {"result": "not seen", "polls": polls}
            if last is not None:
                result.update(asdict(measure(last, args.background)))
            print(json.dumps(result))
            return 2
        time.sleep(args.interval)
    image, stats = seen
    write_png(image, args.png)
    waited = round(args.deadline - (end - time.monotonic()), 1)
    print(json.dumps({"result": "seen", "polls": polls, "seconds": waited, **asdict(stats)}))
    return 0


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("watch", help="wait until the remote desktop shows; save it as PNG")
    w.add_argument("screen", type=Path, help="the live XWD file (Xvfb -fbdir DIR/Xvfb_screen0)")
    w.add_argument("png", type=Path)
    w.add_argument("background", type=parse_colour)
    w.add_argument("--min-share", type=float, default=0.5)
    w.add_argument("--min-colours", type=int, default=3)
    w.add_argument("--max-share", type=float, default=0.98, help="a window covers the rest")
    w.add_argument("--settle", type=float, default=10.0, help="seconds to wait for a window")
    w.add_argument("--deadline", type=float, default=60.0)
    w.add_argument("--interval", type=float, default=1.0)
    w.add_argument("--pid", type=int, help="give up when this process (the client) ends")
    w.add_argument("--stop", type=Path, help="give up when this file appears")
    m = sub.add_parser("measure", help="colour count and background share of an image, as JSON")
    m.add_argument("image", type=Path)
    m.add_argument("background", type=parse_colour)
    args = parser.parse_args(argv)
    if args.command == "watch":
        return watch(args)
    try:
        stats = measure(read_image(args.image), args.background)
    except (OSError, ImageError, zlib.error) as exc:
        print(f"{args.image}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(asdict(stats)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
