"""Office documents written by hand (ZIP + minimal XML, RTF), and others made from them by a real LibreOffice.

Plain functions: the Word 97 / Excel 97 files and the password-protected ones come from LibreOffice itself
(``libreoffice_copies``), run once per test session with a Basic macro in a throw-away profile.
"""

from __future__ import annotations

import io
import os
import shutil
import signal
import struct
import subprocess
import zipfile
import zlib
from pathlib import Path
from xml.sax.saxutils import escape

_ODF_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">
<manifest:file-entry manifest:full-path="/" manifest:media-type="{mimetype}"/>
<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>"""

_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" office:version="1.2"'
)


def _odf(mimetype: str, body: str, extra: dict[str, bytes] | None = None) -> bytes:
    content = f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {_ODF_NS}>{body}</office:document-content>'
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), mimetype, compress_type=zipfile.ZIP_STORED)
        archive.writestr("META-INF/manifest.xml", _ODF_MANIFEST.format(mimetype=mimetype))
        archive.writestr("content.xml", content)
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def odt(
    paragraphs: list[str], *, second_page: list[str] | None = None, extra: dict[str, bytes] | None = None
) -> bytes:
    """A text document; ``second_page`` starts on a new page."""
    styles = (
        '<office:automatic-styles><style:style style:name="Saut" style:family="paragraph">'
        '<style:paragraph-properties fo:break-before="page"/></style:style></office:automatic-styles>'
    )
    body = "".join(f"<text:p>{escape(p)}</text:p>" for p in paragraphs)
    for index, line in enumerate(second_page or []):
        style = ' text:style-name="Saut"' if index == 0 else ""
        body += f"<text:p{style}>{escape(line)}</text:p>"
    return _odf(
        "application/vnd.oasis.opendocument.text",
        f"{styles}<office:body><office:text>{body}</office:text></office:body>",
        extra,
    )


def ods(rows: list[list[str | float]]) -> bytes:
    cells = ""
    for row in rows:
        cells += "<table:table-row>"
        for value in row:
            if isinstance(value, str):
                cells += f'<table:table-cell office:value-type="string"><text:p>{escape(value)}</text:p></table:table-cell>'
            else:
                cells += f'<table:table-cell office:value-type="float" office:value="{value}"><text:p>{value}</text:p></table:table-cell>'
        cells += "</table:table-row>"
    return _odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        '<office:automatic-styles><style:style style:name="Large" style:family="table-column">'
        '<style:table-column-properties style:column-width="8cm"/></style:style></office:automatic-styles>'
        '<office:body><office:spreadsheet><table:table table:name="Budget">'
        f'<table:table-column table:style-name="Large"/><table:table-column/>{cells}</table:table>'
        "</office:spreadsheet></office:body>",
    )


_W = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
_R = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def docx(
    paragraphs: list[str],
    *,
    second_page: list[str] | None = None,
    macro_enabled: bool = False,
    extra: dict[str, bytes] | None = None,
    body_xml: str | None = None,
    relationships: str = "",
) -> bytes:
    """A Word document: [Content_Types].xml, the package relationships and word/document.xml."""
    main = (
        "application/vnd.ms-word.document.macroEnabled.main+xml"
        if macro_enabled
        else "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    )
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/word/document.xml" ContentType="{main}"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="word/document.xml"/></Relationships>'
    )
    body = "".join(f'<w:p><w:r><w:t xml:space="preserve">{escape(p)}</w:t></w:r></w:p>' for p in paragraphs)
    if second_page:
        body += '<w:p><w:r><w:br w:type="page"/></w:r></w:p>'
        body += "".join(f"<w:p><w:r><w:t>{escape(p)}</w:t></w:r></w:p>" for p in second_page)
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<w:document {_W} xmlns:r="{_R}" '
        'xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" '
        'xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" '
        'xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture">'
        f"<w:body>{body_xml if body_xml is not None else body}</w:body></w:document>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("word/document.xml", document)
        if relationships:
            archive.writestr(
                "word/_rels/document.xml.rels",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                f"{relationships}</Relationships>",
            )
        for name, data in (extra or {}).items():
            archive.writestr(name, data)
    return buffer.getvalue()


def xlsx(rows: list[list[str | float]]) -> bytes:
    """An Excel workbook with one sheet, strings inline (no shared-strings part needed)."""
    content_types = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        '<Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
        '<Override PartName="/xl/worksheets/sheet1.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>'
    )
    rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_R}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        f'<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="{_R}">'
        '<sheets><sheet name="Budget" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    workbook_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{_R}/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    )
    xml_rows = ""
    for r, row in enumerate(rows, start=1):
        xml_rows += f'<row r="{r}">'
        for c, value in enumerate(row):
            ref = f"{chr(ord('A') + c)}{r}"
            if isinstance(value, str):
                xml_rows += f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
            else:
                xml_rows += f'<c r="{ref}"><v>{value}</v></c>'
        xml_rows += "</row>"
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<cols><col min="1" max="1" width="40" customWidth="1"/></cols>'
        f"<sheetData>{xml_rows}</sheetData></worksheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", content_types)
        archive.writestr("_rels/.rels", rels)
        archive.writestr("xl/workbook.xml", workbook)
        archive.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        archive.writestr("xl/worksheets/sheet1.xml", sheet)
    return buffer.getvalue()


def rtf(paragraphs: list[str]) -> bytes:
    """RTF, accents written as \\uN escapes (with a '?' fallback), as Word does."""

    def encode(text: str) -> str:
        out = ""
        for char in text:
            if ord(char) < 128:
                out += "\\" + char if char in "\\{}" else char
            else:
                out += f"\\u{ord(char)}?"
        return out

    body = "".join(f"{{\\pard {encode(p)}\\par}}\n" for p in paragraphs)
    return ("{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Liberation Serif;}}\n" + body + "}").encode(
        "ascii"
    )


def pptx() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/ppt/presentation.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.presentationml.presentation.main+xml"/></Types>',
        )
        archive.writestr("ppt/presentation.xml", "<p:presentation/>")
    return buffer.getvalue()


def odp() -> bytes:
    return _odf(
        "application/vnd.oasis.opendocument.presentation", "<office:body><office:presentation/></office:body>"
    )


def zip_bomb_docx(megabytes: int = 20) -> bytes:
    """A real Word document carrying one part of zeros that inflates about a thousand times."""
    return docx(["Lettre ordinaire"], extra={"word/media/image1.bin": bytes(megabytes * 1024 * 1024)})


def lying_zip_docx() -> bytes:
    """A Word document whose extra part declares 1000 bytes but inflates to 5 Mo (CRC of the 1000 first)."""
    real = bytes(5 * 1024 * 1024)
    data = bytearray(docx(["Lettre ordinaire"], extra={"word/media/image1.bin": real}))
    declared = 1000
    crc = zlib.crc32(real[:declared])
    name = b"word/media/image1.bin"
    position = 0
    while (position := data.find(b"PK\x03\x04", position)) != -1:
        name_length = struct.unpack_from("<H", data, position + 26)[0]
        if bytes(data[position + 30 : position + 30 + name_length]) == name:
            struct.pack_into("<I", data, position + 14, crc)
            struct.pack_into("<I", data, position + 22, declared)
        position += 4
    position = 0
    while (position := data.find(b"PK\x01\x02", position)) != -1:
        name_length = struct.unpack_from("<H", data, position + 28)[0]
        if bytes(data[position + 46 : position + 46 + name_length]) == name:
            struct.pack_into("<I", data, position + 16, crc)
            struct.pack_into("<I", data, position + 24, declared)
        position += 4
    return bytes(data)


def encrypted_ooxml_container() -> bytes:
    """An OLE2 compound file holding the two streams of a password-protected .docx/.xlsx ([MS-OFFCRYPTO]).

    Built here because LibreOffice 7.4 cannot be asked to encrypt OOXML from the command line; the streams'
    content is random, the structure (what the checks read) is the one Word writes.
    """
    sector = 512
    streams = {"EncryptionInfo": os.urandom(4096), "EncryptedPackage": os.urandom(8192)}
    # Layout: sector 0 = FAT, sector 1 = directory, then each stream's sectors.
    next_free = 2
    starts: dict[str, int] = {}
    for name, content in streams.items():
        starts[name] = next_free
        next_free += len(content) // sector
    fat = [0xFFFFFFFF] * (sector // 4)
    fat[0] = 0xFFFFFFFD  # FAT sector
    fat[1] = 0xFFFFFFFE  # directory: one sector
    for name, content in streams.items():
        count = len(content) // sector
        for index in range(count):
            here = starts[name] + index
            fat[here] = here + 1 if index < count - 1 else 0xFFFFFFFE

    def entry(name: str, kind: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        encoded = (name + "\0").encode("utf-16-le")
        raw = encoded.ljust(64, b"\0") + struct.pack("<HBB", len(encoded), kind, 1)
        raw += struct.pack("<III", left, right, child) + bytes(16) + bytes(4) + bytes(16)
        raw += struct.pack("<III", start, size, 0)
        return raw

    none = 0xFFFFFFFF
    directory = entry("Root Entry", 5, none, none, 1, 0xFFFFFFFE, 0)
    directory += entry("EncryptionInfo", 2, none, 2, none, starts["EncryptionInfo"], 4096)
    directory += entry("EncryptedPackage", 2, none, none, none, starts["EncryptedPackage"], 8192)
    directory += entry("", 0, none, none, none, 0, 0)
    header = bytearray(512)
    header[:8] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
    struct.pack_into("<HHHH", header, 0x18, 0x3E, 3, 0xFFFE, 9)
    struct.pack_into("<H", header, 0x20, 6)
    struct.pack_into("<IIIIIIII", header, 0x2C, 1, 1, 0, 4096, 0xFFFFFFFE, 0, 0xFFFFFFFE, 0)
    difat = [0] + [0xFFFFFFFF] * 108
    struct.pack_into("<109I", header, 0x4C, *difat)
    body = struct.pack(f"<{len(fat)}I", *fat) + directory
    for content in streams.values():
        body += content
    return bytes(header) + body


# --- Made by LibreOffice ------------------------------------------------------------------------------

_MACRO = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE script:module PUBLIC "-//OpenOffice.org//DTD OfficeDocument 1.0//EN" "module.dtd">
<script:module xmlns:script="http://openoffice.org/2000/script" script:name="Module1" script:language="StarBasic">
Sub SaveAs(src As String, dst As String, filt As String, secret As String)
  Dim args(0) As New com.sun.star.beans.PropertyValue
  args(0).Name = &quot;Hidden&quot; : args(0).Value = True
  doc = StarDesktop.loadComponentFromURL(ConvertToURL(src), &quot;_blank&quot;, 0, args())
  Dim sa(1) As New com.sun.star.beans.PropertyValue
  sa(0).Name = &quot;FilterName&quot; : sa(0).Value = filt
  sa(1).Name = &quot;Password&quot; : sa(1).Value = secret
  If secret = &quot;&quot; Then
    ReDim Preserve sa(0)
  End If
  doc.storeToURL(ConvertToURL(dst), sa())
  doc.close(True)
  StarDesktop.terminate()
End Sub
</script:module>
"""


def libreoffice_copies(
    sources: dict[str, Path], wanted: list[tuple[str, str, str, str]], workdir: Path
) -> dict[str, Path]:
    """Save documents in other formats with LibreOffice: (name, source key, filter, password) → path.

    One LibreOffice run per file (a Basic macro of a throw-away profile), each with a deadline.
    """
    profile = workdir / "profil"
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) est requis pour ces tests"
    first = _soffice(
        [
            soffice,
            f"-env:UserInstallation={profile.as_uri()}",
            "--convert-to",
            "pdf",
            "--outdir",
            str(workdir / "x"),
            str(next(iter(sources.values()))),
        ]
    )
    assert first == 0
    module = profile / "user" / "basic" / "Standard" / "Module1.xba"
    module.write_text(_MACRO, encoding="utf-8")
    made: dict[str, Path] = {}
    for name, key, filter_name, password in wanted:
        target = workdir / name
        call = f'macro:///Standard.Module1.SaveAs("{sources[key]}","{target}","{filter_name}","{password}")'
        _soffice([soffice, f"-env:UserInstallation={profile.as_uri()}", call])
        assert target.exists(), f"LibreOffice n'a pas produit {name}"
        made[name] = target
    return made


def _soffice(command: list[str]) -> int:
    process = subprocess.Popen(
        [command[0], "--headless", "--norestore", "--nolockcheck", *command[1:]],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        return process.wait(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        raise
