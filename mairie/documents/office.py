"""Office documents (Word, Writer, Excel, Calc, RTF): recognised by their content, converted to PDF by LibreOffice.

The original is kept as sent; the PDF that LibreOffice makes of it is the document's "PDF consultable"
(pages shown in the browser, text extracted for search).

What is refused, and why (the checks call ``identify`` before anything is stored):
- **Encrypted documents** (password to open: ODF ``encryption-data``, OOXML ``EncryptedPackage``, Word 97
  ``fEncrypted``, Excel ``FILEPASS``): neither LibreOffice nor the search can read them.
- **Documents carrying macros** (``.docm``/``.xlsm``, a ``vbaProject.bin``, Word 97 ``Macros`` or Excel
  ``_VBA_PROJECT_CUR`` storages, ODF ``Basic/`` or ``Scripts/``). Converting them would be harmless (LibreOffice
  runs here with macros disabled), but the platform offers every original for download: keeping one would put a
  macro document one click away from an agent's Word, which is how most malware reaches a town hall. Ordinary
  letters never need macros; the sender is asked for a ``.docx``, ``.xlsx`` or PDF instead.
- **ZIP bombs**: an archive whose entries would unpack beyond ``MAX_UNPACKED_BYTES``, or one entry inflating
  more than ``MAX_RATIO`` times (Apache POI's long-standing limit), or whose real content is larger than the
  size it declares (each entry is inflated once, with a cap, during the check).
- Other ZIP archives and other Office/OpenDocument types (presentations, Outlook messages…).

The conversion runs ``soffice.bin`` directly (not the ``soffice`` launcher, whose ``oosplash`` parent would
outlive us) with a throw-away profile, macros disabled, in a network namespace of its own when the system
allows it (``unshare``), in its own process group killed as a whole on timeout, and dying with the worker.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
import mmap
import os
import re
import shutil
import signal
import struct
import subprocess
import time
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from mairie.documents.checks import DOC, DOCX, ODS, ODT, RTF, XLS, XLSX, FileRefused

logger = logging.getLogger("mairie.documents")

# Accepted office types, with the extension LibreOffice is given (it also looks at the content).
EXTENSIONS = {DOCX: ".docx", XLSX: ".xlsx", ODT: ".odt", ODS: ".ods", DOC: ".doc", XLS: ".xls", RTF: ".rtf"}
OFFICE_TYPES = frozenset(EXTENSIONS)

ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
RTF_MAGIC = b"{\\rtf"

MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # 1 Gio unpacked: far beyond any real letter or spreadsheet
MAX_RATIO = 100  # Apache POI refuses entries inflating more than 100 times (ZipSecureFile.MIN_INFLATE_RATIO)
RATIO_GRACE_BYTES = 1024 * 1024  # small entries (styles, empty sheets) may compress very well
MAX_ENTRIES = 10_000

_ODF_MIMETYPES = {
    "application/vnd.oasis.opendocument.text": ODT,
    "application/vnd.oasis.opendocument.text-template": ODT,
    "application/vnd.oasis.opendocument.spreadsheet": ODS,
    "application/vnd.oasis.opendocument.spreadsheet-template": ODS,
}
_ODF_OTHER = {
    "presentation": "une présentation OpenDocument (.odp)",
    "graphics": "un dessin OpenDocument (.odg)",
    "formula": "une formule OpenDocument (.odf)",
    "database": "une base de données OpenDocument (.odb)",
}


# --- Recognition (called by the checks) ----------------------------------------------------------------


def is_candidate(head: bytes) -> bool:
    """Whether content starting with ``head`` may be an office document (ZIP, OLE2 compound file, RTF)."""
    return head.startswith((ZIP_MAGIC, OLE_MAGIC, RTF_MAGIC))


def identify(path: Path, label: str) -> str | None:
    """The office MIME type of the file, None if it is not an accepted office document.

    Raises FileRefused (French message) for an encrypted, macro-carrying, damaged or bomb-like office file.
    """
    with path.open("rb") as handle:
        head = handle.read(8)
    if head.startswith(RTF_MAGIC):
        return RTF
    if head.startswith(ZIP_MAGIC):
        return _identify_zip(path, label)
    if head.startswith(OLE_MAGIC):
        return _identify_ole(path, label)
    return None


def _encrypted(label: str) -> FileRefused:
    return FileRefused(
        f"Le document {label} est protégé par un mot de passe : la plateforme ne peut ni l'afficher ni "
        "en lire le texte. Enregistrez-en une version sans mot de passe (ou en PDF) et envoyez-la à nouveau.",
        code="encrypted",
    )


def _macros(label: str) -> FileRefused:
    return FileRefused(
        f"Le document {label} contient des macros : par sécurité, la plateforme n'accepte pas les documents "
        "à macros (.docm, .xlsm…). Enregistrez-le au format .docx, .xlsx, .odt ou PDF et envoyez-le à nouveau.",
        code="macros",
    )


def _damaged(label: str) -> FileRefused:
    return FileRefused(
        f"Le document {label} est endommagé et ne peut pas être lu. Enregistrez-le ou exportez-le à nouveau.",
        code="corrupt",
    )


def _bomb(label: str, detail: str) -> FileRefused:
    return FileRefused(
        f"Le document {label} a été refusé : {detail}. Ce peut être une « bombe de décompression » ; "
        "s'il s'agit d'un vrai document, enregistrez-le en PDF.",
        code="bomb",
    )


def _unsupported(label: str, what: str) -> FileRefused:
    from mairie.documents.checks import ACCEPTED_HUMAN

    return FileRefused(
        f"Le fichier {label} n'est pas accepté : son contenu est {what}. Formats acceptés : {ACCEPTED_HUMAN}.",
        code="type",
    )


def _mo(size: int) -> str:
    return f"{size / 1024 / 1024:.0f} Mo"


def _identify_zip(path: Path, label: str) -> str | None:
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            names = {info.filename for info in infos}
            kind = _zip_kind(archive, infos, names, label)
            if kind is None:
                return None
            _check_unpacking(archive, infos, label)
            return kind
    except FileRefused:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        OSError,
        EOFError,
        ValueError,
        NotImplementedError,
    ) as exc:
        logger.info("Archive refusée %s : %s", label, exc)
        raise _damaged(label) from exc


def _zip_kind(
    archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], names: set[str], label: str
) -> str | None:
    if len(infos) > MAX_ENTRIES:
        raise _bomb(label, f"il contient {len(infos)} fichiers (au plus {MAX_ENTRIES})")
    # ODF: the first member is "mimetype", stored, holding the document's type.
    if infos and infos[0].filename == "mimetype" and infos[0].file_size < 200:
        declared = archive.read(infos[0]).decode("ascii", "replace").strip()
        if declared.startswith("application/vnd.oasis.opendocument."):
            kind = _ODF_MIMETYPES.get(declared)
            if kind is None:
                other = declared.removeprefix("application/vnd.oasis.opendocument.").split("-")[0]
                raise _unsupported(label, _ODF_OTHER.get(other, f"un document OpenDocument ({declared})"))
            if "META-INF/manifest.xml" in names:
                manifest = _read_capped(archive, "META-INF/manifest.xml", label)
                if b"encryption-data" in manifest:
                    raise _encrypted(label)
            if any(name.startswith(("Basic/", "Scripts/")) for name in names):
                raise _macros(label)
            return kind
    # OOXML: [Content_Types].xml and the main part of a Word or Excel document.
    if "[Content_Types].xml" in names:
        types = _read_capped(archive, "[Content_Types].xml", label).lower()
        if b"macroenabled" in types or any(n.lower().endswith("vbaproject.bin") for n in names):
            raise _macros(label)
        if any(n.startswith("word/") for n in names):
            return DOCX
        if any(n.startswith("xl/") for n in names):
            if b"sheet.binary" in types:
                raise _unsupported(label, "un classeur Excel binaire (.xlsb)")
            return XLSX
        if any(n.startswith("ppt/") for n in names):
            raise _unsupported(label, "une présentation PowerPoint (.pptx)")
        if any(n.startswith("visio/") for n in names):
            raise _unsupported(label, "un dessin Visio (.vsdx)")
    return None


def _read_capped(archive: zipfile.ZipFile, name: str, label: str, cap: int = 4 * 1024 * 1024) -> bytes:
    info = archive.getinfo(name)
    if info.file_size > cap:
        raise _bomb(label, f"sa partie « {name} » est démesurée ({_mo(info.file_size)})")
    with archive.open(info) as member:
        return member.read(cap + 1)[:cap]


def _check_unpacking(archive: zipfile.ZipFile, infos: list[zipfile.ZipInfo], label: str) -> None:
    """Refuse bombs by the sizes the archive declares, then make sure each entry really is that size.

    Inflating every entry once (capped at its declared size plus one byte) costs about 2 ms per unpacked
    megabyte (75 ms for an 11 Mo .docx unpacking to 44 Mo); it also catches damaged entries (CRC) before the
    document is accepted.
    """
    total = sum(info.file_size for info in infos)
    if total > MAX_UNPACKED_BYTES:
        raise _bomb(
            label, f"une fois décompressé il occuperait {_mo(total)} (au plus {_mo(MAX_UNPACKED_BYTES)})"
        )
    for info in infos:
        if info.flag_bits & 0x1:
            raise _encrypted(label)
        if info.file_size > RATIO_GRACE_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise _bomb(
                label,
                f"sa partie « {info.filename} » grossit {info.file_size // max(info.compress_size, 1)} fois "
                f"à la décompression (au plus {MAX_RATIO} fois)",
            )
        # Read one byte more than declared: an entry that lies about its size shows it here.
        probe = copy.copy(info)
        probe.file_size = info.file_size + 1
        probe.CRC = None  # type: ignore[assignment]  # checked below, over all the bytes read
        unpacked, crc = 0, 0
        with archive.open(probe) as member:
            while block := member.read(1024 * 1024):
                unpacked += len(block)
                if unpacked > info.file_size:
                    raise _bomb(label, f"sa partie « {info.filename} » est plus grande qu'elle ne le déclare")
                crc = zlib.crc32(block, crc)
        if unpacked != info.file_size or crc != info.CRC:
            raise _damaged(label)


# --- OLE2 compound files (.doc, .xls, encrypted OOXML) -------------------------------------------------

_FREE, _END_OF_CHAIN = 0xFFFFFFFF, 0xFFFFFFFE
_NO_STREAM = 0xFFFFFFFF


class _OleError(Exception):
    pass


@dataclass(frozen=True)
class _OleEntry:
    name: str
    kind: int  # 1 storage, 2 stream, 5 root
    start: int
    size: int


class _Ole:
    """Just enough of [MS-CFB] to list the entries of a compound file and read the start of a stream."""

    def __init__(self, data: mmap.mmap | bytes) -> None:
        self.data = data
        if len(data) < 512 or data[:8] != OLE_MAGIC:
            raise _OleError("en-tête absent")
        shift, mini_shift = struct.unpack_from("<HH", data, 0x1E)
        if shift not in (9, 12) or mini_shift != 6:
            raise _OleError("taille de secteur invalide")
        self.sector_size = 1 << shift
        self.mini_size = 1 << mini_shift
        (fat_count, first_dir, _, self.mini_cutoff, first_minifat, _, first_difat, difat_count) = (
            struct.unpack_from("<IIIIIIII", data, 0x2C)
        )
        fat_sectors = [s for s in struct.unpack_from("<109I", data, 0x4C) if s < _END_OF_CHAIN]
        sector, seen = first_difat, 0
        per_difat = self.sector_size // 4 - 1
        while sector < _END_OF_CHAIN and seen <= difat_count:
            values = struct.unpack_from(f"<{per_difat + 1}I", data, self._offset(sector))
            fat_sectors.extend(s for s in values[:per_difat] if s < _END_OF_CHAIN)
            sector, seen = values[per_difat], seen + 1
        if len(fat_sectors) < fat_count:
            raise _OleError("table d'allocation incomplète")
        per_sector = self.sector_size // 4
        self.fat: list[int] = []
        for fat_sector in fat_sectors[:fat_count]:
            self.fat.extend(struct.unpack_from(f"<{per_sector}I", data, self._offset(fat_sector)))
        directory = self._read_chain(first_dir, self.fat, self.sector_size, self._sector)
        self.entries: list[_OleEntry] = []
        for position in range(0, len(directory) - 127, 128):
            raw = directory[position : position + 128]
            name_length, kind = struct.unpack_from("<HB", raw, 0x40)
            start, size = struct.unpack_from("<II", raw, 0x74)
            if kind in (1, 2, 5) and 2 <= name_length <= 64:
                name = raw[: name_length - 2].decode("utf-16-le", "replace")
                self.entries.append(_OleEntry(name, kind, start, size))
        root = next((e for e in self.entries if e.kind == 5), None)
        if root is None:
            raise _OleError("racine absente")
        self.root = root
        self.first_minifat = first_minifat

    def _offset(self, sector: int) -> int:
        offset = (sector + 1) * self.sector_size
        if sector >= _END_OF_CHAIN or offset + self.sector_size > len(self.data):
            raise _OleError(f"secteur {sector} hors du fichier")
        return offset

    def _sector(self, sector: int) -> bytes:
        offset = self._offset(sector)
        return bytes(self.data[offset : offset + self.sector_size])

    @staticmethod
    def _read_chain(
        start: int, table: list[int], unit: int, read: Callable[[int], bytes], limit: int | None = None
    ) -> bytes:
        chunks: list[bytes] = []
        sector, steps = start, 0
        while sector < _END_OF_CHAIN:
            if sector >= len(table) or steps > len(table):
                raise _OleError("chaîne de secteurs invalide")
            chunks.append(read(sector))
            steps += 1
            if limit is not None and steps * unit >= limit:
                break
            sector = table[sector]
        return b"".join(chunks)

    def names(self) -> set[str]:
        return {entry.name for entry in self.entries}

    def stream(self, name: str, limit: int) -> bytes:
        """The first ``limit`` bytes (at most) of the first stream called ``name``."""
        entry = next(e for e in self.entries if e.kind == 2 and e.name == name)
        wanted = min(limit, entry.size)
        if entry.size >= self.mini_cutoff:
            data = self._read_chain(entry.start, self.fat, self.sector_size, self._sector, wanted)
        else:
            minifat_bytes = self._read_chain(self.first_minifat, self.fat, self.sector_size, self._sector)
            minifat = list(struct.unpack(f"<{len(minifat_bytes) // 4}I", minifat_bytes))
            container = self._read_chain(self.root.start, self.fat, self.sector_size, self._sector)

            def mini(sector: int) -> bytes:
                offset = sector * self.mini_size
                if offset + self.mini_size > len(container):
                    raise _OleError("mini-secteur hors du flux")
                return container[offset : offset + self.mini_size]

            data = self._read_chain(entry.start, minifat, self.mini_size, mini, wanted)
        return data[:wanted]


_WORD_IDENTS = (0xA5EC, 0xA5DC)  # Word 97-2003, Word 6/95 (same flags word)
_WORD_FIB_ENCRYPTED = 0x0100
_WORD_FIB_OBFUSCATED = 0x8000
_XLS_FILEPASS = 0x002F
_XLS_EOF = 0x000A


def _identify_ole(path: Path, label: str) -> str | None:
    try:
        with path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
            ole = _Ole(data)
            names = ole.names()
            if {"EncryptedPackage", "EncryptionInfo"} & names:
                raise _encrypted(label)  # an OOXML document (docx, xlsx…) protected by a password
            if "Macros" in names or "_VBA_PROJECT_CUR" in names or "VBA" in names:
                raise _macros(label)
            if "WordDocument" in names:
                fib = ole.stream("WordDocument", 32)
                if len(fib) < 12 or struct.unpack_from("<H", fib, 0)[0] not in _WORD_IDENTS:
                    raise _OleError("en-tête Word invalide")
                flags = struct.unpack_from("<H", fib, 0x0A)[0]
                if flags & (_WORD_FIB_ENCRYPTED | _WORD_FIB_OBFUSCATED):
                    raise _encrypted(label)
                return DOC
            book = "Workbook" if "Workbook" in names else "Book" if "Book" in names else None
            if book is not None:
                if _xls_has_filepass(ole.stream(book, 1024 * 1024)):
                    raise _encrypted(label)
                return XLS
            if "PowerPoint Document" in names:
                raise _unsupported(label, "une présentation PowerPoint 97-2003 (.ppt)")
            if any(n.startswith("__substg1.0_") for n in names):
                raise _unsupported(label, "un message Outlook (.msg)")
            return None
    except FileRefused:
        raise
    except (_OleError, struct.error, StopIteration, ValueError, OSError) as exc:
        logger.info("Document OLE refusé %s : %s", label, exc)
        raise _damaged(label) from exc


def _xls_has_filepass(stream: bytes) -> bool:
    """Walk the BIFF records of the workbook globals: FILEPASS comes before the first EOF when encrypted."""
    position = 0
    while position + 4 <= len(stream):
        record, length = struct.unpack_from("<HH", stream, position)
        if record == _XLS_FILEPASS:
            return True
        if record == _XLS_EOF:
            return False
        position += 4 + length
    return False


# --- Conversion --------------------------------------------------------------------------------------


class ConversionError(Exception):
    """The conversion failed; the message (French) is shown to agents and administrators."""


# LibreOffice quits with this code when it has just set up a new profile, expecting to be started again.
_RESTART_REQUESTED = 81

_PROFILE_SETTINGS = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry" xmlns:xs="http://www.w3.org/2001/XMLSchema"
 xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="MacroSecurityLevel"
 oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="DisableMacrosExecution"
 oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting"><prop oor:name="BlockUntrustedRefererLinks"
 oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Setup/L10N"><prop oor:name="ooSetupSystemLocale" oor:op="fuse">
<value>fr-FR</value></prop></item>
</oor:items>
"""


def soffice_binary() -> Path:
    """``soffice.bin`` of the installed LibreOffice (the process that converts, without its launcher)."""
    launcher = shutil.which("soffice") or shutil.which("libreoffice")
    if launcher is None:
        raise ConversionError(
            "LibreOffice est introuvable : installez les paquets libreoffice-writer-nogui et "
            "libreoffice-calc-nogui (scripts/system-deps.sh) pour convertir les documents bureautiques."
        )
    real = Path(launcher).resolve()
    binary = real.with_name("soffice.bin")
    return binary if binary.exists() else real


@functools.cache
def network_isolation() -> list[str]:
    """The prefix running LibreOffice without network (``unshare``), or [] where the system forbids it.

    A document may link remote images or data; LibreOffice would fetch them while converting (tracking the
    town hall, or reaching internal addresses). In a network namespace of its own it has no network at all.
    Unprivileged user namespaces are on by default on Debian; where they are not, the conversion still runs
    with macros disabled, and a warning says that it has network access.
    """
    unshare = shutil.which("unshare")
    if unshare is not None:
        command = [unshare, "--net", "--map-root-user"]
        try:
            subprocess.run([*command, "true"], check=True, capture_output=True, timeout=10)
            return command
        except (subprocess.SubprocessError, OSError) as exc:
            logger.warning("LibreOffice tournera avec accès au réseau (unshare refusé : %s)", exc)
    else:
        logger.warning("LibreOffice tournera avec accès au réseau (commande unshare introuvable)")
    return []


def convert_to_pdf(source: Path, mime_type: str, workdir: Path) -> Path:
    """Convert one office document to PDF with LibreOffice; return the PDF (under ``workdir``)."""
    binary = soffice_binary()
    inbox = workdir / "office-source"
    outdir = workdir / "office-pdf"
    profile = workdir / "office-profile"
    for directory in (inbox, outdir, profile / "user"):
        directory.mkdir(parents=True, exist_ok=True)
    (profile / "user" / "registrymodifications.xcu").write_text(_PROFILE_SETTINGS, encoding="utf-8")
    document = inbox / f"document{EXTENSIONS.get(mime_type, '')}"
    shutil.copyfile(source, document)
    command = [
        *network_isolation(),
        str(binary),
        "--headless",
        "--invisible",
        "--norestore",
        "--nolockcheck",
        "--nologo",
        "--nodefault",
        "--nofirststartwizard",
        f"-env:UserInstallation={profile.as_uri()}",
        "--convert-to",
        "pdf",
        "--outdir",
        str(outdir),
        str(document),
    ]
    env = dict(os.environ)
    env["HOME"] = str(profile)  # nothing of LibreOffice's is written outside the throw-away directory
    env.pop("DISPLAY", None)
    deadline = time.monotonic() + float(settings.OFFICE_TIMEOUT)
    output = ""
    for _attempt in range(2):
        code, output = _run_soffice(command, env, deadline)
        if code != _RESTART_REQUESTED:
            break
    pdf = outdir / "document.pdf"
    if not pdf.exists() or pdf.stat().st_size == 0:
        detail = _soffice_error(output)
        logger.warning("Conversion LibreOffice en échec (code %s) : %s", code, output[-2000:])
        raise ConversionError(f"La conversion du document en PDF a échoué : {detail}")
    return pdf


def _run_soffice(command: list[str], env: dict[str, str], deadline: float) -> tuple[int, str]:
    from mairie.documents.pipeline import dies_with_worker  # the pipeline imports this module

    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: a timeout kills LibreOffice and all its children
        preexec_fn=dies_with_worker(),
    )
    try:
        out, _ = process.communicate(timeout=max(deadline - time.monotonic(), 0.01))
    except subprocess.TimeoutExpired as exc:
        _kill_group(process)
        raise ConversionError(
            f"La conversion du document en PDF a dépassé le temps autorisé ({_seconds(settings.OFFICE_TIMEOUT)}) : "
            "LibreOffice a été arrêté. Le document est peut-être trop lourd ; l'original est conservé."
        ) from exc
    except BaseException:
        _kill_group(process)
        raise
    finally:
        # LibreOffice may leave helpers behind in its group even after a normal exit.
        _kill_group(process, only_group=True)
    return process.returncode, out.decode("utf-8", "replace")


def _kill_group(process: subprocess.Popen[bytes], *, only_group: bool = False) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if not only_group:
        try:
            process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL is not ignored
            logger.error("LibreOffice (pid %s) ne s'arrête pas", process.pid)


def _seconds(value: float) -> str:
    return f"{value:g} s".replace(".", ",")


_NOISE = re.compile(r"^(Warning: failed to launch javaldx.*|convert .*)$", re.MULTILINE)


def _soffice_error(output: str) -> str:
    text = _NOISE.sub("", output).strip()
    if "source file could not be loaded" in text:
        return "LibreOffice n'a pas pu ouvrir le fichier (document endommagé ou format non reconnu)"
    if not text:
        return "LibreOffice n'a produit aucun PDF (document endommagé ou format non reconnu)"
    return text[-300:]
