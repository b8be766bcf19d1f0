"""Content-type detection from the bytes of an upload, and safe file names."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Callable
from typing import Final

from ragplatform.documents.parsed import UnreadableDocument
from ragplatform.errors import UnsupportedMediaType

TEXT_PLAIN: Final = "text/plain"
TEXT_MARKDOWN: Final = "text/markdown"
TEXT_HTML: Final = "text/html"
TEXT_CSV: Final = "text/csv"
APPLICATION_JSON: Final = "application/json"
APPLICATION_PDF: Final = "application/pdf"
APPLICATION_DOCX: Final = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
SUPPORTED_TYPES: Final = frozenset(
    {
        TEXT_PLAIN,
        TEXT_MARKDOWN,
        TEXT_HTML,
        TEXT_CSV,
        APPLICATION_JSON,
        APPLICATION_PDF,
        APPLICATION_DOCX,
    }
)

# (magic prefix, what it is) for binary formats we refuse by name.
_BINARY_MAGIC: Final[tuple[tuple[bytes, str], ...]] = (
    (b"MZ", "a Windows executable"),
    (b"\x7fELF", "a Linux executable (ELF)"),
    (b"\xcf\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"\xce\xfa\xed\xfe", "a macOS executable (Mach-O)"),
    (b"\xca\xfe\xba\xbe", "a Java class file or macOS universal binary"),
    (b"\x00asm", "a WebAssembly module"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xfd7zXZ\x00", "an XZ archive"),
    (b"\x28\xb5\x2f\xfd", "a Zstandard archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a legacy Microsoft Office file (.doc/.xls/.ppt)"),
    (b"{\\rtf", "an RTF document"),
    (b"%!PS", "a PostScript file"),
    (b"SQLite format 3\x00", "an SQLite database"),
    (b"OggS", "an Ogg media file"),
    (b"fLaC", "a FLAC audio file"),
    (b"ID3", "an MP3 audio file"),
)
# Prefixes with non-alphanumeric bytes are refused outright; purely alphanumeric ones ("MZ",
# "GIF89a") only name what was found once the bytes also fail to decode as text.
_DISTINCTIVE_MAGIC: Final = tuple(magic for magic, _ in _BINARY_MAGIC if not magic.isalnum())
_ZIP_MAGIC: Final = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")
_UTF_BOMS: Final[tuple[tuple[bytes, str], ...]] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_HEAD_CHARS: Final = 4096
_HTML_START = re.compile(
    r"\A\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html)\b", re.I | re.S
)
_HTML_TAG = re.compile(
    r"<(?:html|head|body|title|meta|p|div|span|h[1-6]|table|ul|ol|li|article|section|br|a\s)\b[^>]*>",
    re.I,
)
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+\S", re.M)
# Text whose name says it is not markup: "# comment" lines there are not Markdown headings.
_PLAIN_EXTENSIONS: Final = frozenset(
    {"txt", "text", "log", "py", "sh", "yaml", "yml", "toml", "ini", "cfg", "conf", "rst"}
)
_CSV_DELIMITERS: Final = ",;\t|"
_CSV_SAMPLE_LINES: Final = 50
_BAD_CATEGORIES: Final = frozenset({"Cc", "Cs", "Co", "Cn"})
_WINDOWS_RESERVED: Final = frozenset(
    {"CON", "PRN", "AUX", "NUL"}
    | {f"COM{i}" for i in range(1, 10)}
    | {f"LPT{i}" for i in range(1, 10)}
)
MAX_FILENAME_CHARS: Final = 200


def sniff(data: bytes, filename: str | None = None) -> str:
    """Return the supported MIME type of ``data``; the name only picks among text subtypes."""
    if not data:
        raise UnreadableDocument("the file is empty")
    if data.startswith(b"%PDF-"):
        return APPLICATION_PDF
    if data.startswith(_ZIP_MAGIC):
        return _sniff_zip(data)
    if data.startswith(_DISTINCTIVE_MAGIC):
        raise UnsupportedMediaType(f"{_binary_kind(data)} is not a supported document")
    text = decode_text(data)
    if text is None:
        raise UnsupportedMediaType(f"{_binary_kind(data)} is not a supported document")
    return _sniff_text(text, _extension(filename))


def decode_text(data: bytes) -> str | None:
    """Decode bytes as text (BOM, UTF-8, then best guess); ``None`` when it is not text."""
    for bom, encoding in _UTF_BOMS:
        if data.startswith(bom):
            try:
                return _checked(data[len(bom) :].decode(encoding))
            except UnicodeDecodeError:
                return None
    if b"\x00" in data:
        return None
    try:
        return _checked(data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    return None if best is None else _checked(str(best))


def sanitize_filename(name: str | None) -> str:
    """Return a safe base name: no directories, control characters or traversal, <= 200 chars."""
    base = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    base = "".join(
        " " if ch in "\t\n\r\v\f" or unicodedata.category(ch)[0] == "Z" else ch
        for ch in base
        if unicodedata.category(ch)[0] != "C" or ch in "\t\n\r\v\f"
    )
    base = re.sub(r'[<>:"|?*]', "_", base)
    base = re.sub(r"\s+", " ", base).strip(" .")
    if not base:
        return "document"
    stem, dot, ext = base.rpartition(".")
    if not dot or not stem or len(ext) > 16 or " " in ext:
        stem, ext = base, ""
    suffix = f".{ext}" if ext else ""
    stem = stem[: MAX_FILENAME_CHARS - len(suffix)].rstrip(" .") or "document"
    if stem.upper() in _WINDOWS_RESERVED:
        stem = f"_{stem}"
    return f"{stem}{suffix}"


def _checked(text: str) -> str | None:
    """Return ``text`` unless its start is full of control or unassigned characters."""
    head = text[:_HEAD_CHARS]
    bad = sum(
        1 for ch in head if unicodedata.category(ch) in _BAD_CATEGORIES and ch not in "\t\n\r\f\v"
    )
    return None if bad > max(2, len(head) // 100) else text


def _sniff_zip(data: bytes) -> str:
    """Tell a Word document from other ZIP files by the central directory alone."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnsupportedMediaType("a damaged ZIP archive is not a supported document") from exc
    if "word/document.xml" in names:
        return APPLICATION_DOCX
    if "xl/workbook.xml" in names:
        kind = "an Excel workbook (.xlsx)"
    elif "ppt/presentation.xml" in names:
        kind = "a PowerPoint presentation (.pptx)"
    elif "mimetype" in names and "content.xml" in names:
        kind = "an OpenDocument file"
    else:
        kind = "a ZIP archive"
    raise UnsupportedMediaType(f"{kind} is not a supported document")


def _binary_kind(data: bytes) -> str:
    """Name the binary format of ``data`` for an error message."""
    if data[4:8] == b"ftyp":
        return "a video or image container (MP4/QuickTime/HEIC)"
    if data.startswith(b"RIFF") and data[8:12] in (b"WEBP", b"WAVE", b"AVI "):
        return {b"WEBP": "a WebP image", b"WAVE": "a WAV audio file"}.get(
            data[8:12], "an AVI video"
        )
    for magic, kind in _BINARY_MAGIC:
        if data.startswith(magic):
            return kind
    if b"\x00" in data:
        return "binary data (it contains NUL bytes)"
    return "data that is neither a known document format nor readable text"


def _extension(filename: str | None) -> str:
    """Return the lower-case extension of ``filename`` without the dot, or ``""``."""
    base = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    return base.rpartition(".")[2].lower() if "." in base else ""


def _sniff_text(text: str, ext: str) -> str:
    """Choose the text subtype from the content, with the extension as a tie-breaker."""
    head = text[:_HEAD_CHARS]
    stripped = head.lstrip()
    rules: tuple[tuple[Callable[[], object], str], ...] = (
        (lambda: stripped[:1] in ("{", "[") and _is_json(text), APPLICATION_JSON),
        (lambda: _HTML_START.match(head), TEXT_HTML),
        (lambda: ext in ("md", "markdown"), TEXT_MARKDOWN),
        (lambda: ext in ("csv", "tsv"), TEXT_CSV),
        (lambda: ext in ("html", "htm", "xhtml") and _HTML_TAG.search(head), TEXT_HTML),
        (lambda: ext in _PLAIN_EXTENSIONS, TEXT_PLAIN),
        (lambda: re.search(r"<body\b", head, re.I), TEXT_HTML),
        (lambda: stripped.startswith("<") and _HTML_TAG.search(head), TEXT_HTML),
        (lambda: _MD_HEADING.search(head), TEXT_MARKDOWN),
        (lambda: looks_like_csv(head), TEXT_CSV),
    )
    return next((mime for rule, mime in rules if rule()), TEXT_PLAIN)


def _is_json(text: str) -> bool:
    """Whether ``text`` is a JSON object or array."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return False
    return isinstance(value, dict | list)


def looks_like_csv(sample: str) -> bool:
    """Whether ``sample`` has a consistent delimiter over >= 2 columns in >= 2 lines."""
    lines = sample.splitlines()
    if len(sample) >= _HEAD_CHARS and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut off
    lines = lines[:_CSV_SAMPLE_LINES]
    while lines and not lines[-1].strip():
        lines.pop()
    if len(lines) < 2 or any(not line.strip() for line in lines):
        return False
    if sum(line.rstrip().endswith((".", "!", "?")) for line in lines) * 2 > len(lines):
        return False  # prose with commas, not records
    joined = "\n".join(lines)
    try:
        dialect = csv.Sniffer().sniff(joined, delimiters=_CSV_DELIMITERS)
        rows = list(csv.reader(io.StringIO(joined), dialect))
    except csv.Error:
        return False
    widths = {len(row) for row in rows}
    return len(rows) >= 2 and len(widths) == 1 and widths.pop() >= 2
