"""Read the files out of an Outlook ``winmail.dat`` (TNEF, [MS-OXTNEF]).

Only what intake needs: each attachment's name and bytes (legacy attributes, with the long file name of the
attachment's MAPI properties when present) and the plain-text body. Compressed RTF bodies are left alone.
Never trusts a length: a truncated or hostile file ends the reading, what was read is kept.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

SIGNATURE = b"\x78\x9f\x3e\x22"  # 0x223E9F78, little-endian

LVL_MESSAGE = 1
LVL_ATTACHMENT = 2

ATT_BODY = 0x0002800C
ATT_ATTACH_DATA = 0x0006800F
ATT_ATTACH_TITLE = 0x00018010
ATT_ATTACH_REND_DATA = 0x00069002
ATT_ATTACHMENT = 0x00069005  # the attachment's MAPI properties

PR_ATTACH_LONG_FILENAME = 0x3707
PR_ATTACH_FILENAME = 0x3704
PR_ATTACH_DATA_OBJ = 0x3701
PR_DISPLAY_NAME = 0x3001

_FIXED_SIZES = {
    0x0001: 4,  # PT_NULL
    0x0002: 4,  # PT_SHORT (padded)
    0x0003: 4,  # PT_LONG
    0x0004: 4,  # PT_FLOAT
    0x0005: 8,  # PT_DOUBLE
    0x0006: 8,  # PT_CURRENCY
    0x0007: 8,  # PT_APPTIME
    0x000A: 4,  # PT_ERROR
    0x000B: 4,  # PT_BOOLEAN (padded)
    0x0014: 8,  # PT_I8
    0x0040: 8,  # PT_SYSTIME
    0x0048: 16,  # PT_CLSID
}
_VARIABLE = {0x000D, 0x001E, 0x001F, 0x0102}  # PT_OBJECT, PT_STRING8, PT_UNICODE, PT_BINARY
MAX_FILES = 200


@dataclass
class TnefFile:
    name: str = ""
    data: bytes = b""


@dataclass
class TnefContent:
    files: list[TnefFile] = field(default_factory=list)
    body: str = ""


def _string8(data: bytes) -> str:
    return data.split(b"\x00", 1)[0].decode("cp1252", errors="replace").strip()


def extract(data: bytes) -> TnefContent:
    """The files and plain body of a TNEF stream (empty content when it is not one)."""
    content = TnefContent()
    if data[:4] != SIGNATURE:
        return content
    position = 6  # signature + legacy key
    current: TnefFile | None = None
    while position + 9 <= len(data) and len(content.files) <= MAX_FILES:
        level = data[position]
        attribute, length = struct.unpack_from("<II", data, position + 1)
        start = position + 9
        end = start + length
        if end + 2 > len(data):
            break  # truncated
        value = data[start:end]
        position = end + 2  # checksum
        if attribute == ATT_ATTACH_REND_DATA:
            current = TnefFile()
            content.files.append(current)
        elif level == LVL_ATTACHMENT and current is not None:
            if attribute == ATT_ATTACH_TITLE and not current.name:
                current.name = _string8(value)
            elif attribute == ATT_ATTACH_DATA:
                current.data = value
            elif attribute == ATT_ATTACHMENT:
                _apply_properties(current, value)
        elif level == LVL_MESSAGE and attribute == ATT_BODY:
            content.body = _string8(value)
    content.files = [f for f in content.files if f.data]
    return content


def _apply_properties(target: TnefFile, data: bytes) -> None:
    """Take the long file name (and the data, when only there) from an attachment's MAPI properties."""
    try:
        properties = dict(_properties(data))
    except (struct.error, ValueError, IndexError):
        return
    for key in (PR_ATTACH_LONG_FILENAME, PR_DISPLAY_NAME, PR_ATTACH_FILENAME):
        value = properties.get(key)
        if isinstance(value, str) and value:
            if key == PR_ATTACH_LONG_FILENAME or not target.name:
                target.name = value
            break
    blob = properties.get(PR_ATTACH_DATA_OBJ)
    if not target.data and isinstance(blob, bytes):
        target.data = blob


def _properties(data: bytes) -> list[tuple[int, object]]:
    (count,) = struct.unpack_from("<I", data, 0)
    position = 4
    found: list[tuple[int, object]] = []
    for _ in range(min(count, 10_000)):
        kind, ident = struct.unpack_from("<HH", data, position)
        position += 4
        if ident >= 0x8000:  # named property: GUID, then an id or a name
            position += 16
            (name_kind,) = struct.unpack_from("<I", data, position)
            position += 4
            if name_kind == 0:
                position += 4
            else:
                (name_length,) = struct.unpack_from("<I", data, position)
                position += 4 + name_length + (-name_length % 4)
        multi = bool(kind & 0x1000)
        base = kind & 0x0FFF
        values = 1
        if multi:
            (values,) = struct.unpack_from("<I", data, position)
            position += 4
        value: object = None
        for _ in range(min(values, 10_000)):
            if base in _VARIABLE:
                if not multi:
                    position += 4  # a count of values, always 1
                (length,) = struct.unpack_from("<I", data, position)
                position += 4
                raw = data[position : position + length]
                if len(raw) != length:
                    raise ValueError("truncated")
                position += length + (-length % 4)
                if base == 0x001F:
                    value = raw.decode("utf-16-le", errors="replace").rstrip("\x00")
                elif base == 0x001E:
                    value = _string8(raw)
                elif base == 0x000D:
                    value = raw[16:]  # an embedded object starts with its interface's GUID
                else:
                    value = raw
            elif base in _FIXED_SIZES:
                position += _FIXED_SIZES[base]
            else:
                raise ValueError(f"unknown property type {kind:#x}")
        found.append((ident, value))
    return found


def build(files: list[tuple[str, bytes]], *, body: str = "", long_names: bool = True) -> bytes:
    """A minimal TNEF stream holding ``files`` (for tests and the corpus), as Outlook lays it out."""

    def attribute(level: int, ident: int, value: bytes) -> bytes:
        checksum = sum(value) & 0xFFFF
        return struct.pack("<BII", level, ident, len(value)) + value + struct.pack("<H", checksum)

    out = bytearray(SIGNATURE + struct.pack("<H", 0x0001))
    out += attribute(LVL_MESSAGE, 0x00089006, struct.pack("<I", 0x00010000))  # attTnefVersion
    if body:
        out += attribute(LVL_MESSAGE, ATT_BODY, body.encode("cp1252", errors="replace") + b"\x00")
    for name, data in files:
        out += attribute(LVL_ATTACHMENT, ATT_ATTACH_REND_DATA, b"\x01\x00\xff\xff\xff\xff" + b"\x00" * 8)
        short = name if not long_names else (name[:8] + name[name.rfind(".") :] if "." in name else name[:8])
        out += attribute(LVL_ATTACHMENT, ATT_ATTACH_TITLE, short.encode("cp1252", errors="replace") + b"\x00")
        out += attribute(LVL_ATTACHMENT, ATT_ATTACH_DATA, data)
        if long_names:
            encoded = name.encode("utf-16-le") + b"\x00\x00"
            props = struct.pack("<I", 1) + struct.pack("<HH", 0x001F, PR_ATTACH_LONG_FILENAME)
            props += struct.pack("<II", 1, len(encoded)) + encoded + b"\x00" * (-len(encoded) % 4)
            out += attribute(LVL_ATTACHMENT, ATT_ATTACHMENT, props)
    return bytes(out)
