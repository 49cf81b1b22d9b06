"""Read one raw e-mail message (bytes) into what the register needs, whatever state the message is in.

Real mail is messy: headers in RFC 2047 encoded words with wrong or unknown charsets, 8-bit bytes where only
ASCII is allowed, bodies in quoted-printable or base64 that do not decode, attachments without names,
forwarded messages, Outlook's ``winmail.dat``. ``parse_message`` never raises: what cannot be read is
replaced (U+FFFD) or left out, and each problem adds a French warning meant for the agent.

Pure Python (stdlib ``email`` + nh3): no Django, so the IMAP side, the benchmarks and the tests can use it
anywhere.
"""

from __future__ import annotations

import base64
import codecs
import datetime as dt
import email
import email.policy
import email.utils
import hashlib
import io
import logging
import mimetypes
import re
import unicodedata
from dataclasses import dataclass, field
from email.generator import BytesGenerator
from email.message import Message

import nh3

from mairie.mail import tnef

logger = logging.getLogger("mairie.mail")

# An inline image at most this large, shown in the body or in a signature, is not a document to register.
INLINE_IMAGE_MAX_BYTES = 15 * 1024
# A cid: image larger than this is not inlined as a data: URI in the body rendition (it stays an attachment).
INLINE_DATA_URI_MAX_BYTES = 5 * 1024 * 1024
MAX_NAME_LENGTH = 120
# Nested multiparts deeper than this are not followed (a hostile message could nest thousands).
MAX_DEPTH = 30


@dataclass(frozen=True)
class Address:
    name: str
    address: str

    def __str__(self) -> str:
        if self.name and self.address:
            return f"{self.name} <{self.address}>"
        return self.name or self.address


@dataclass
class Attachment:
    filename: str
    content: bytes
    content_type: str
    is_inline: bool = False
    content_id: str = ""


@dataclass
class ParsedMessage:
    message_id: str = ""
    subject: str = ""
    sender: Address = field(default_factory=lambda: Address("", ""))
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    date: dt.datetime | None = None
    body_text: str = ""
    body_html: str = ""  # sanitised: no script, no remote resource; cid: images as data: URIs
    attachments: list[Attachment] = field(default_factory=list)  # the documents to register, in order
    inline_images: list[Attachment] = field(default_factory=list)  # logos, signatures: not registered
    warnings: list[str] = field(default_factory=list)

    @property
    def sender_name(self) -> str:
        return self.sender.name

    @property
    def sender_address(self) -> str:
        return self.sender.address

    def warn(self, message: str) -> None:
        message = printable(message)
        if message not in self.warnings:
            self.warnings.append(message)


# --- Charsets ----------------------------------------------------------------------------------------

# Labels seen in the wild that Python does not know, or knows under another meaning.
_CHARSET_ALIASES = {
    "unknown-8bit": "",
    "unknown": "",
    "x-unknown": "",
    "default": "",
    "charset": "",
    "us-ascii": "ascii",
    "ascii": "ascii",
    # As browsers do (WHATWG Encoding): Latin-1 labels mean Windows-1252 (€, œ, curly quotes in 0x80–0x9F).
    "iso-8859-1": "cp1252",
    "iso8859-1": "cp1252",
    "latin1": "cp1252",
    "latin-1": "cp1252",
    "l1": "cp1252",
    "x-user-defined": "cp1252",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-mac-roman": "mac_roman",
    "macintosh": "mac_roman",
    "utf-7": "utf-7",
}


def codec_for(label: str | None) -> str | None:
    """The Python codec for a charset label, '' for "unknown, guess", None when unknown to Python."""
    if not label:
        return ""
    cleaned = label.strip().strip("\"'").lower()
    cleaned = cleaned.split("*", 1)[0]  # RFC 2231 language suffix: utf-8*fr
    if cleaned in _CHARSET_ALIASES:
        return _CHARSET_ALIASES[cleaned]
    try:
        name = codecs.lookup(cleaned).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label
        return None
    return "cp1252" if name == "iso8859-1" else name


def decode_bytes(data: bytes, label: str | None = None) -> tuple[str, bool]:
    """Text of ``data`` declared in charset ``label``; second value False when a guess or a repair was needed.

    Declared charset first; when it is unknown or does not fit the bytes, UTF-8, then Windows-1252 (which
    reads any byte but five; those become U+FFFD).
    """
    codec = codec_for(label)
    if codec:
        try:
            return data.decode(codec), True
        except (UnicodeDecodeError, LookupError):
            pass
    try:
        text = data.decode("utf-8")
        # Pure ASCII or valid UTF-8 under an unknown label is fine; under a wrong known label it was a repair.
        return text, codec == "" or data.isascii()
    except UnicodeDecodeError:
        pass
    return decode_mixed(data), False


_HIGH_RUN = re.compile(rb"[\x80-\xff]+")


def decode_mixed(data: bytes) -> str:
    """Bytes in no single charset (UTF-8 pasted next to Latin-1): each run of 8-bit bytes on its own.

    A run that is valid UTF-8 is read as UTF-8, any other as Windows-1252 (its five undefined bytes become
    U+FFFD).
    """

    def run(match: re.Match[bytes]) -> bytes:
        chunk = match.group(0)
        try:
            return chunk.decode("utf-8").encode("utf-8")
        except UnicodeDecodeError:
            return chunk.decode("cp1252", errors="replace").encode("utf-8")

    return _HIGH_RUN.sub(run, data).decode("utf-8", errors="replace")


def _surrogate_bytes(value: str) -> bytes:
    """Bytes of a header value as read by the email package (8-bit bytes kept as surrogates)."""
    return value.encode("utf-8", "surrogateescape")


def _raw_text(value: str) -> tuple[str, bool]:
    """A header value that may carry raw 8-bit bytes (forbidden, yet frequent): as text."""
    if value.isascii():
        return value, True
    try:
        data = value.encode("ascii", "surrogateescape")
    except UnicodeEncodeError:  # already decoded text (a str given by a caller)
        return value, True
    return decode_bytes(data, "")


_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*)\?=")
# An encoded word whose closing ?= is missing (cut by a mailer): decoded up to the next blank.
_UNTERMINATED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?\s]*?)(?=[\s\"<]|$)")
_BETWEEN_WORDS = re.compile(r"(=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)[ \t\r\n]+(?==\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)")


def decode_header_text(value: str | None) -> tuple[str, bool]:
    """An unstructured header (Subject, a display name) as text; second value False when it needed repairs.

    Handles RFC 2047 encoded words (also glued to words or inside quotes, as some mailers write them), raw
    8-bit bytes, adjacent encoded words (the blanks between them are dropped) and folded lines.
    """
    if not value:
        return "", True
    ok = True
    text = re.sub(r"\r?\n[ \t]?", " ", value) if ("\n" in value) else value
    text, clean = _raw_text(text)
    ok &= clean
    text = _BETWEEN_WORDS.sub(r"\1", text)
    # Encoded words in one charset that cut a multi-byte character in two: join them before decoding.
    parts: list[str] = []
    position = 0
    pending: tuple[str, list[bytes | str]] | None = None

    def flush() -> None:
        nonlocal pending, ok
        if pending is None:
            return
        charset, chunks = pending
        if all(isinstance(c, bytes) for c in chunks):
            decoded, clean = decode_bytes(b"".join(c for c in chunks if isinstance(c, bytes)), charset)
        else:
            decoded, clean = "".join(str(c) for c in chunks), False
        ok &= clean
        parts.append(decoded)
        pending = None

    for match in _ENCODED_WORD.finditer(text):
        if match.start() > position:
            flush()
            parts.append(text[position : match.start()])
        charset, encoding, payload = match.groups()
        data = _word_bytes(encoding, payload)
        if data is None:
            flush()
            parts.append(match.group(0))
            ok = False
        elif pending is not None and pending[0].lower() == charset.lower():
            pending[1].append(data)
        else:
            flush()
            pending = (charset, [data])
        position = match.end()
    flush()
    parts.append(_decode_unterminated(text[position:]) if "=?" in text[position:] else text[position:])
    result = "".join(parts)
    if "=?" in text[position:]:
        ok = False
    return _clean_text(result), ok


def _decode_unterminated(text: str) -> str:
    def word(match: re.Match[str]) -> str:
        data = _word_bytes(match.group(2), match.group(3))
        return match.group(0) if data is None else decode_bytes(data, match.group(1))[0]

    return _UNTERMINATED_WORD.sub(word, text)


def _word_bytes(encoding: str, payload: str) -> bytes | None:
    try:
        if encoding.lower() == "b":
            cleaned = re.sub(r"[^A-Za-z0-9+/]", "", payload)
            if len(cleaned) % 4 == 1:
                cleaned = cleaned[:-1]
            return base64.b64decode(cleaned + "=" * (-len(cleaned) % 4))
        return re.sub(
            rb"=([0-9A-Fa-f]{2})",
            lambda m: bytes([int(m.group(1), 16)]),
            payload.replace("_", " ").encode("ascii", "surrogateescape"),
        )
    except (ValueError, UnicodeEncodeError):
        return None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def printable(text: str) -> str:
    """Text without control characters or unpaired surrogates (PostgreSQL stores neither)."""
    text = _CONTROL.sub(" ", text)
    if any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text


def _clean_text(text: str) -> str:
    return " ".join(_CONTROL.sub(" ", text).split())


# --- Headers -----------------------------------------------------------------------------------------


def _raw_header(message: Message, name: str) -> str | None:
    """The header's value as it appears in the source (first occurrence), never parsed by the policy."""
    wanted = name.lower()
    try:
        for key, value in message.raw_items():  # type: ignore[attr-defined]
            if key.lower() == wanted:
                return str(value)[:MAX_HEADER_CHARS]
    except Exception:  # pragma: no cover - raw_items only reads a list
        logger.exception("En-têtes illisibles")
    return None


# Bounded repetitions: a search in a long header without any address stays linear.
_ADDR_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?"
)
# Header values longer than this are cut before being read (a legitimate To with hundreds of addresses
# fits; a megabyte of garbage does not make the mailbox wait).
MAX_HEADER_CHARS = 64 * 1024


def parse_addresses(value: str | None) -> tuple[list[Address], bool]:
    """Addresses of an address header (From, To, Cc); second value False when it had to be guessed."""
    if not value:
        return [], True
    text = re.sub(r"\r?\n[ \t]?", " ", value)
    text, ok = _raw_text(text)
    try:
        pairs = email.utils.getaddresses([text])
    except Exception:
        pairs = []
    found: list[Address] = []
    for name, address in pairs:
        address = address.strip().strip("<>").strip()
        if address and not _ADDR_RE.fullmatch(address):
            guessed = _ADDR_RE.search(address)
            address = guessed.group(0) if guessed else ""
            ok = False
        display, clean = decode_header_text(name)
        ok &= clean
        if display.lower().strip("'\" ") == address.lower():
            display = ""
        if address or display:
            found.append(Address(display.strip("'\" "), address.lower() if _is_ascii(address) else address))
    if any(a.address for a in found) and not all(a.address for a in found):
        found = [a for a in found if a.address]  # stray bits of a badly quoted header
        ok = False
    if not any(a.address for a in found) and _ADDR_RE.search(text):
        found = []
        # getaddresses gave up (it does on odd quoting): take the addresses that can be seen.
        for match in _ADDR_RE.finditer(text):
            found.append(Address("", match.group(0).lower()))
        name_part = text.split("<", 1)[0].strip() if "<" in text else ""
        if found and name_part:
            display, _ = decode_header_text(name_part)
            found[0] = Address(display.strip("'\" "), found[0].address)
        ok = False
    return found, ok


def _is_ascii(value: str) -> bool:
    return value.isascii()


def normalise_message_id(value: str | None) -> str:
    """``<abc@host>`` → ``abc@host``: the first id of the header, without blanks; '' when there is none."""
    if not value:
        return ""
    text, _ = _raw_text(value)
    text = "".join(text.split())
    match = re.search(r"<([^<>]+)>", text)
    ident = match.group(1) if match else text.strip("<>")
    ident = _CONTROL.sub("", ident)
    if len(ident) > 250:  # IntakeKey.key holds 300 characters; absurd ids are hashed
        ident = "sha256:" + hashlib.sha256(ident.encode("utf-8", "surrogatepass")).hexdigest()
    return ident


def parse_date(value: str | None) -> dt.datetime | None:
    """An aware datetime from a Date header (UTC when it has no zone), or None when unreadable."""
    if not value:
        return None
    text, _ = _raw_text(value)
    text = " ".join(text.split())
    try:
        parsed = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        parsed = None
    if parsed is None:
        # A few mailers write ISO 8601, or "CET" style zones parsedate does not know.
        candidate = re.sub(r"\s*\([^)]*\)\s*$", "", text)
        candidate = re.sub(r"\s+[A-Z]{3,4}$", "", candidate)
        try:
            parsed = dt.datetime.fromisoformat(candidate)
        except ValueError:
            try:
                parsed = email.utils.parsedate_to_datetime(candidate)
            except (TypeError, ValueError, IndexError, OverflowError):
                return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        parsed.utcoffset()
        parsed.astimezone(dt.UTC)
    except (OverflowError, ValueError):
        return None
    return parsed


# --- File names --------------------------------------------------------------------------------------

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f<>:"|?*]')
_EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/tiff": ".tif",
    "image/gif": ".gif",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "text/html": ".html",
    "text/calendar": ".ics",
    "application/zip": ".zip",
    "application/msword": ".doc",
    "application/rtf": ".rtf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.oasis.opendocument.text": ".odt",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/vnd.oasis.opendocument.spreadsheet": ".ods",
    "application/ms-tnef": ".dat",
    "application/vnd.ms-tnef": ".dat",
}


_MAGIC = [
    (b"%PDF-", ".pdf"),
    (b"\x89PNG\r\n\x1a\n", ".png"),
    (b"\xff\xd8\xff", ".jpg"),
    (b"II*\x00", ".tif"),
    (b"MM\x00*", ".tif"),
    (b"GIF8", ".gif"),
    (b"PK\x03\x04", ".zip"),
    (b"{\\rtf", ".rtf"),
    (b"\xd0\xcf\x11\xe0", ".doc"),
]


def extension_for(content_type: str, content: bytes = b"") -> str:
    """The usual extension of a content type; for a vague one (octet-stream), the content decides."""
    known = _EXTENSIONS.get(content_type)
    if known:
        return known
    head = content[:1024].lstrip()
    for magic, extension in _MAGIC:
        if head.startswith(magic):
            return extension
    if content_type == "application/octet-stream":
        return ".bin"
    return mimetypes.guess_extension(content_type, strict=False) or ".bin"


def safe_filename(name: str | None, *, fallback: str) -> str:
    """A file name fit for the register: no directories, no control characters, not too long, never empty."""
    text = unicodedata.normalize("NFC", name or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = printable(_UNSAFE_NAME.sub("_", text))
    text = " ".join(text.split()).strip(" .")
    if not text or set(text) <= {"_", "."}:
        return fallback
    if len(text) > MAX_NAME_LENGTH:
        stem, dot, ext = text.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            text = stem[: MAX_NAME_LENGTH - len(ext) - 1].rstrip() + "." + ext
        else:
            text = text[:MAX_NAME_LENGTH].rstrip()
    return text


def _part_filename(part: Message) -> tuple[str, bool]:
    """The declared file name of a part (Content-Disposition, else Content-Type's name), decoded."""
    raw: str | None = None
    try:
        raw = part.get_filename()
    except Exception:
        raw = None
    if raw is None:
        for header, param in (("content-disposition", "filename"), ("content-type", "name")):
            value = _raw_header(part, header)
            if value:
                match = re.search(rf'{param}\*?\s*=\s*"?([^";]+)"?', value, re.IGNORECASE)
                if match:
                    raw = match.group(1)
                    break
    if raw is None:
        return "", True
    ok = True
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in raw):  # raw 8-bit bytes in the parameter
        raw, ok = decode_bytes(_surrogate_bytes(raw), "")
    if "=?" in raw:  # RFC 2047 inside a parameter: wrong, and what Outlook writes
        raw, clean = decode_header_text(raw)
        ok &= clean
    if "\ufffd" in raw:
        ok = False
    return raw, ok


# --- Parts -------------------------------------------------------------------------------------------


def _content_type(part: Message) -> str:
    try:
        return part.get_content_type().lower()
    except Exception:
        return "application/octet-stream"


def _disposition(part: Message) -> str:
    value = _raw_header(part, "content-disposition") or ""
    return value.split(";", 1)[0].strip().lower()


def _content_id(part: Message) -> str:
    value = _raw_header(part, "content-id") or ""
    return "".join(value.split()).strip("<>")


def _payload_bytes(part: Message, parsed: ParsedMessage, what: str) -> bytes:
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if data is None:
        payload = part.get_payload()
        data = payload.encode("ascii", "surrogateescape") if isinstance(payload, str) else b""
    defects = [d for d in getattr(part, "defects", []) if "Base64" in type(d).__name__]
    if defects:
        parsed.warn(f"{what} : encodage base64 abîmé, contenu peut-être incomplet.")
    return bytes(data)


def _part_text(part: Message, parsed: ParsedMessage, what: str) -> str:
    data = _payload_bytes(part, parsed, what)
    try:
        charset = part.get_param("charset")
    except Exception:
        charset = None
    if isinstance(charset, tuple):  # RFC 2231 form
        charset = charset[2]
    text, ok = decode_bytes(data, str(charset) if charset else "")
    if not ok:
        parsed.warn(
            f"{what} : jeu de caractères absent, inconnu ou faux ({charset or 'non indiqué'}) ; texte lu au mieux."
        )
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _nested_bytes(part: Message) -> bytes:
    """The bytes of a message/rfc822 part's message, as close as possible to what was sent."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    if not isinstance(inner, Message):
        if isinstance(payload, str):
            return _payload_bytes(part, ParsedMessage(), "")
        return b""
    # compat32 writes the headers as they were read (no refolding); no ">From " mangling of the body.
    for policy in (email.policy.compat32, email.policy.default):
        buffer = io.BytesIO()
        try:
            BytesGenerator(buffer, mangle_from_=False, policy=policy.clone(linesep="\r\n")).flatten(inner)
        except Exception as exc:
            logger.info("Message joint non réécrit avec %s : %s", type(policy).__name__, exc)
            continue
        return buffer.getvalue()
    return b""


@dataclass
class _Walk:
    texts: list[str] = field(default_factory=list)
    htmls: list[str] = field(default_factory=list)
    candidates: list[tuple[Attachment, bool]] = field(default_factory=list)  # (attachment, in related)


def _walk(part: Message, parsed: ParsedMessage, walk: _Walk, depth: int, related: bool) -> None:
    if depth > MAX_DEPTH:
        parsed.warn("Structure du courriel trop profonde : une partie n'a pas été lue.")
        return
    ctype = _content_type(part)
    disposition = _disposition(part)
    if ctype == "message/rfc822" or (ctype.startswith("message/") and disposition == "attachment"):
        filename, _ = _part_filename(part)
        data = _nested_bytes(part)
        if data:
            subject = _nested_subject(data)
            name = filename or f"{subject or 'message joint'}.eml"
            walk.candidates.append(
                (Attachment(name, data, "message/rfc822", False, _content_id(part)), False)
            )
        return
    if part.is_multipart():
        payload = part.get_payload()
        if not isinstance(payload, list):
            return
        children = [child for child in payload if isinstance(child, Message)]
        if ctype == "multipart/alternative":
            _walk_alternative(children, parsed, walk, depth, related)
            return
        if ctype == "multipart/related":
            for index, child in enumerate(children):
                _walk(child, parsed, walk, depth + 1, related=related or index > 0)
            return
        for child in children:
            _walk(child, parsed, walk, depth + 1, related)
        return
    filename, name_ok = _part_filename(part)
    if not name_ok:
        parsed.warn(f"Nom de pièce jointe mal encodé, lu au mieux : « {filename} ».")
    is_attachment = disposition == "attachment" or (bool(filename) and disposition != "inline")
    if ctype in ("text/plain", "text/html") and not is_attachment and not filename:
        what = "Texte du courriel" if ctype == "text/plain" else "Texte HTML du courriel"
        text = _part_text(part, parsed, what)
        (walk.texts if ctype == "text/plain" else walk.htmls).append(text)
        return
    data = _payload_bytes(part, parsed, f"Pièce jointe « {filename or ctype} »")
    if not data:
        return
    walk.candidates.append(
        (Attachment(filename, data, ctype, disposition == "inline", _content_id(part)), related)
    )


def _walk_alternative(
    children: list[Message], parsed: ParsedMessage, walk: _Walk, depth: int, related: bool
) -> None:
    """The richest readable version for HTML, the plain one for text; parts neither (a calendar) are kept."""
    plain: Message | None = None
    rich: Message | None = None
    for child in children:
        ctype = _content_type(child)
        if ctype == "text/plain" and plain is None:
            plain = child
        elif ctype in ("text/html", "multipart/related", "multipart/mixed"):
            rich = child  # the last is the richest (RFC 2046)
    if plain is not None:
        walk.texts.append(_part_text(plain, parsed, "Texte du courriel"))
    if rich is not None:
        _walk(rich, parsed, walk, depth + 1, related)
    for child in children:
        if child is plain or child is rich:
            continue
        ctype = _content_type(child)
        if ctype in ("text/plain", "text/html", "text/enriched"):
            continue  # other versions of the same text
        _walk(child, parsed, walk, depth + 1, related)


def _nested_subject(data: bytes) -> str:
    try:
        inner = email.message_from_bytes(data, policy=email.policy.compat32)
        subject, _ = decode_header_text(_raw_header(inner, "subject"))
    except Exception:
        return ""
    return subject


# --- HTML --------------------------------------------------------------------------------------------

_HTML_TAGS = set(nh3.ALLOWED_TAGS) - {"area", "map"} | {"font", "tfoot"}
_HTML_ATTRIBUTES: dict[str, set[str]] = {
    **{tag: set(values) for tag, values in nh3.ALLOWED_ATTRIBUTES.items()},
    "img": {"src", "alt", "width", "height"},
    "td": {"colspan", "rowspan", "align", "valign"},
    "th": {"colspan", "rowspan", "align", "valign", "scope"},
    "table": {"align", "width", "border"},
    "font": {"color"},
    "*": {"dir", "lang"},
}
_IMAGE_DATA = re.compile(r"^data:image/(png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.IGNORECASE)


def sanitise_html(html: str, images: dict[str, Attachment] | None = None) -> tuple[str, list[str], set[str]]:
    """Safe HTML for the rendition: no script, no style, no event handler, no remote resource.

    Returns the HTML, the remote URLs that were removed, and the content ids of the images inlined (cid:
    references replaced by data: URIs). Links stay (text only in a PDF).
    """
    images = images or {}
    removed: list[str] = []
    used: set[str] = set()

    def keep(tag: str, attribute: str, value: str) -> str | None:
        if tag == "img" and attribute == "src":
            url = value.strip()
            lower = url.lower()
            if lower.startswith("cid:"):
                image = images.get(url[4:].strip("<>"))
                if image is None or len(image.content) > INLINE_DATA_URI_MAX_BYTES:
                    return None
                used.add(url[4:].strip("<>"))
                return f"data:{image.content_type};base64,{base64.b64encode(image.content).decode('ascii')}"
            if _IMAGE_DATA.match(url):
                return url
            removed.append(url)
            return None
        if attribute in ("href", "cite") and value.strip().lower().startswith(("data:", "cid:")):
            return None
        return value

    try:
        cleaned = nh3.clean(
            html,
            tags=_HTML_TAGS,
            clean_content_tags={"script", "style", "title", "noscript", "template", "iframe", "object"},
            attributes=_HTML_ATTRIBUTES,
            attribute_filter=keep,
            url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
            strip_comments=True,
            link_rel="noopener noreferrer nofollow",
        )
    except Exception:
        logger.exception("Nettoyage HTML impossible")
        cleaned = ""
    # An image left without its source (remote, or unknown cid:) says so instead of an empty box.
    cleaned = _IMG_WITHOUT_SRC.sub(_missing_image, cleaned)
    return cleaned, removed, used


_IMG_WITHOUT_SRC = re.compile(r"<img(?![^>]*\ssrc=)([^>]*)>", re.IGNORECASE)
_ALT = re.compile(r'\salt="([^"]*)"')


def _missing_image(match: re.Match[str]) -> str:
    alt = _ALT.search(match.group(1))
    label = f"image non chargée : {alt.group(1)}" if alt and alt.group(1).strip() else "image non chargée"
    return f'<span class="image-retiree">[{label}]</span>'


def html_to_text(html: str) -> str:
    """A rough plain-text version of an HTML body (when the message has no text/plain part)."""
    text = re.sub(r"(?is)<(script|style|title|head)\b.*?</\1\s*>", " ", html)
    text = re.sub(r"(?i)<br\s*/?>", "\n", text)
    text = re.sub(r"(?i)</(p|div|tr|li|h[1-6]|table|blockquote)\s*>", "\n", text)
    text = re.sub(r"<[^>]+>", " ", text)
    import html as html_module

    text = html_module.unescape(text)
    lines = [" ".join(line.split()) for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# --- The message -------------------------------------------------------------------------------------


def _load(raw: bytes, parsed: ParsedMessage) -> Message:
    try:
        return email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:
        parsed.warn("Structure du courriel illisible : lecture de secours.")
    try:
        return email.message_from_bytes(raw, policy=email.policy.compat32)
    except Exception:
        parsed.warn("Courriel illisible : seul l'original est conservé.")
        return Message()


def parse_message(raw: bytes) -> ParsedMessage:
    """Everything the register needs from one raw message; never raises (see the module's docstring)."""
    parsed = ParsedMessage()
    try:
        _parse_into(raw, parsed)
    except Exception as exc:  # the last safety net: a bug here must not stop a mailbox
        logger.exception("Lecture du courriel interrompue")
        parsed.warn(f"Lecture du courriel interrompue ({type(exc).__name__}) : l'original .eml fait foi.")
    return parsed


def _parse_into(raw: bytes, parsed: ParsedMessage) -> None:
    if not raw.strip():
        parsed.warn("Le courriel est vide.")
        return
    message = _load(raw, parsed)
    if not message.keys() and not message.get_payload():
        parsed.warn("Aucun en-tête lisible dans le courriel.")

    parsed.message_id = normalise_message_id(_raw_header(message, "message-id"))
    if not parsed.message_id:
        parsed.warn("En-tête Message-ID absent : le courriel ne peut pas être reconnu s'il arrive deux fois.")

    subject_raw = _raw_header(message, "subject")
    parsed.subject, ok = decode_header_text(subject_raw)
    if not ok:
        parsed.warn("Objet mal encodé, lu au mieux.")

    senders, ok = parse_addresses(_raw_header(message, "from"))
    if not senders:
        sender_fallback, _ = parse_addresses(
            _raw_header(message, "sender")
            or _raw_header(message, "reply-to")
            or _raw_header(message, "return-path")
        )
        senders = sender_fallback
        parsed.warn(
            "En-tête From absent ou illisible : expéditeur à compléter."
            if not senders
            else "En-tête From absent ou illisible : expéditeur pris dans un autre en-tête."
        )
    elif not ok:
        parsed.warn("En-tête From mal formé, lu au mieux.")
    if senders:
        parsed.sender = senders[0]
    parsed.to, ok_to = parse_addresses(_raw_header(message, "to"))
    parsed.cc, ok_cc = parse_addresses(_raw_header(message, "cc"))
    if not (ok_to and ok_cc):
        parsed.warn("Destinataires mal formés, lus au mieux.")

    date_raw = _raw_header(message, "date")
    parsed.date = parse_date(date_raw)
    if parsed.date is None:
        parsed.warn("En-tête Date absent ou illisible : date de réception utilisée.")

    for defect in getattr(message, "defects", []):
        name = type(defect).__name__
        if name in (
            "MissingHeaderBodySeparatorDefect",
            "MisplacedEnvelopeHeaderDefect",
            "NonPrintableDefect",
        ):
            parsed.warn("En-têtes du courriel mal formés : certains ont pu être ignorés.")
        elif name in (
            "StartBoundaryNotFoundDefect",
            "CloseBoundaryNotFoundDefect",
            "MultipartInvariantViolationDefect",
        ):
            parsed.warn("Structure MIME incomplète (frontière manquante) : contenu lu au mieux.")

    walk = _Walk()
    try:
        _walk(message, parsed, walk, 0, related=False)
    except Exception as exc:
        logger.exception("Parcours MIME interrompu")
        parsed.warn(
            f"Une partie du courriel n'a pas pu être lue ({type(exc).__name__}) : l'original .eml fait foi."
        )

    _classify(parsed, walk)


def _classify(parsed: ParsedMessage, walk: _Walk) -> None:
    """Body text and HTML, and which parts are documents to register and which are inline images."""
    by_cid: dict[str, Attachment] = {
        a.content_id: a for a, _ in walk.candidates if a.content_id and a.content_type.startswith("image/")
    }
    html = "\n".join(walk.htmls)
    used: set[str] = set()
    if html.strip():
        parsed.body_html, removed, used = sanitise_html(html, by_cid)
        if removed:
            parsed.warn(
                f"{len(removed)} image(s) distante(s) du courriel non chargée(s) (protection contre le pistage)."
            )
    parsed.body_text = "\n\n".join(t.strip("\n") for t in walk.texts if t.strip())
    if not parsed.body_text and html.strip():
        parsed.body_text = html_to_text(html)

    position = 0
    for attachment, in_related in walk.candidates:
        ctype = attachment.content_type
        is_image = ctype.startswith("image/")
        small = len(attachment.content) <= INLINE_IMAGE_MAX_BYTES
        referenced = bool(attachment.content_id) and attachment.content_id in used
        if is_image and (
            (referenced and (attachment.is_inline or in_related or small or not attachment.filename))
            or (small and (attachment.is_inline or in_related))
        ):
            attachment.is_inline = True
            parsed.inline_images.append(attachment)
            continue
        position += 1
        fallback = f"piece-jointe-{position}{extension_for(ctype, attachment.content)}"
        attachment.filename = safe_filename(attachment.filename, fallback=fallback)
        if _is_tnef(attachment):
            _expand_tnef(parsed, attachment)
            continue
        parsed.attachments.append(attachment)


def _is_tnef(attachment: Attachment) -> bool:
    return (
        attachment.content_type in ("application/ms-tnef", "application/vnd.ms-tnef")
        or attachment.filename.lower() == "winmail.dat"
    ) and attachment.content[:4] == tnef.SIGNATURE


def _expand_tnef(parsed: ParsedMessage, attachment: Attachment) -> None:
    """winmail.dat: its files become attachments; if none can be read, the file itself is kept."""
    try:
        result = tnef.extract(attachment.content)
    except Exception:
        logger.exception("winmail.dat illisible")
        result = tnef.TnefContent()
    for index, item in enumerate(result.files, start=1):
        ctype = mimetypes.guess_type(item.name)[0] or "application/octet-stream"
        name = safe_filename(item.name, fallback=f"winmail-{index}{extension_for(ctype)}")
        parsed.attachments.append(Attachment(name, item.data, ctype))
    if result.body and not parsed.body_text.strip():
        parsed.body_text = result.body
    if result.files:
        parsed.warn(
            f"Pièce jointe Outlook « {attachment.filename} » (format TNEF) : "
            f"{len(result.files)} fichier(s) extrait(s) ; l'original .eml la conserve telle quelle."
        )
    else:
        parsed.attachments.append(attachment)
        parsed.warn(
            f"Pièce jointe Outlook « {attachment.filename} » (format TNEF) : aucun fichier n'a pu en être extrait ; "
            "elle est conservée dans l'original .eml."
        )
