"""Turn uploaded bytes of a sniffed type into sections of text; refuse anything hostile."""

from __future__ import annotations

import csv
import io
import json
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Final

from ragplatform.documents import sniff as s
from ragplatform.documents.parsed import ParsedDocument, Section, UnreadableDocument
from ragplatform.errors import UnsupportedMediaType

MAX_ZIP_UNCOMPRESSED_BYTES: Final = 200 * 1024 * 1024
MAX_ZIP_RATIO: Final = 200
MAX_ZIP_MEMBERS: Final = 10_000
MAX_PDF_PAGES: Final = 5_000
MAX_TEXT_CHARS: Final = 20_000_000
# A member smaller than this cannot be a bomb, so its (possibly high) ratio is not judged.
_RATIO_FLOOR_BYTES: Final = 1024 * 1024
# Office keeps embedded objects (chart data, worksheets) as nested packages here; python-docx
# never opens them, so they are allowed (their sizes still count towards the total).
_EMBEDDINGS_DIR: Final = "word/embeddings/"
_ARCHIVES: Final = (".zip", ".jar", ".gz", ".7z", ".rar", ".tar")
_ZIP_BOMB: Final = "the archive expands too much (zip bomb?)"


@dataclass(frozen=True)
class ParseLimits:
    """Resource ceilings applied while parsing one document."""

    max_zip_uncompressed_bytes: int = MAX_ZIP_UNCOMPRESSED_BYTES
    max_zip_ratio: int = MAX_ZIP_RATIO
    max_zip_members: int = MAX_ZIP_MEMBERS
    max_pdf_pages: int = MAX_PDF_PAGES
    max_text_chars: int = MAX_TEXT_CHARS


DEFAULT_LIMITS: Final = ParseLimits()
_Parser = Callable[[bytes, ParseLimits], ParsedDocument]


def parse(
    data: bytes, mime: str, *, filename: str | None = None, limits: ParseLimits = DEFAULT_LIMITS
) -> ParsedDocument:
    """Parse ``data`` of type ``mime`` into sections; raise UnreadableDocument when impossible."""
    entry = _PARSERS.get(mime.split(";", 1)[0].strip().lower())
    if entry is None:
        raise UnsupportedMediaType(f"{mime!r} is not a supported document type")
    if not data:
        raise UnreadableDocument("the file is empty")
    parser, label = entry
    try:
        doc = parser(data, limits)
    except UnreadableDocument:
        raise
    except RecursionError as exc:
        raise UnreadableDocument("the document is nested too deeply") from exc
    except MemoryError as exc:
        raise UnreadableDocument("the document is too large to parse") from exc
    except Exception as exc:
        raise UnreadableDocument(f"the {label} could not be parsed: {_describe(exc)}") from exc
    if filename:
        doc.metadata.setdefault("filename", s.sanitize_filename(filename))
    return _finish(doc, limits)


def _describe(exc: BaseException) -> str:
    """A short, single-line description of an exception from a library."""
    text = " ".join(str(exc).split())[:200]
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _finish(doc: ParsedDocument, limits: ParseLimits) -> ParsedDocument:
    """Drop empty sections, enforce the text ceiling and refuse a document without text."""
    sections = [
        Section(text, sec.heading_path, sec.page)
        for sec in doc.sections
        if (text := _clean(sec.text))
    ]
    if not sections:
        raise UnreadableDocument("the document contains no text")
    _check_chars(sum(len(sec.text) for sec in sections), limits)
    title = _clean(doc.title or "") or None
    return ParsedDocument(sections=sections, title=title, metadata=doc.metadata)


def _check_chars(count: int, limits: ParseLimits) -> None:
    """Refuse a document with more text than the ceiling."""
    if count > limits.max_text_chars:
        raise UnreadableDocument(
            f"the document has more than {limits.max_text_chars:,} characters of text"
        )


# Control characters (but tab and newline), lone surrogates and private-use code points.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\uf8ff\U000f0000-\U0010ffff]")


def _clean(text: str) -> str:
    """Normalise newlines and Unicode, drop control characters, trim and squeeze blank runs."""
    text = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    text = _CONTROL.sub("", text)
    text = re.sub(r"[ \t\f\v\u00a0]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _text(data: bytes, limits: ParseLimits) -> str:
    """Decode a text format or refuse it."""
    text = s.decode_text(data)
    if text is None:
        raise UnreadableDocument("the file is not readable text in any known encoding")
    _check_chars(len(text), limits)
    return text


def parse_text(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Plain text: one section per paragraph (split on blank lines)."""
    paragraphs = re.split(r"\n[ \t]*\n", _text(data, limits).replace("\r\n", "\n"))
    return ParsedDocument(sections=[Section(p) for p in paragraphs])


_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def markdown_sections(text: str) -> tuple[list[Section], str | None]:
    """Sections under ATX headings (with their heading path) and the first level-1 heading."""
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    lines: list[str] = []
    title: str | None = None
    fence = ""

    def flush() -> None:
        """Close the section collected so far."""
        body = "\n".join(lines).strip()
        if body:
            sections.append(Section(body, tuple(heading for _, heading in stack)))
        lines.clear()

    for line in text.replace("\r\n", "\n").split("\n"):
        opener = _FENCE.match(line)
        if fence:
            if opener and opener.group(1)[0] == fence[0] and len(opener.group(1)) >= len(fence):
                fence = ""
            else:
                lines.append(line)
            continue
        if opener:
            fence = opener.group(1)
            continue
        heading = _ATX.match(line)
        if heading is None:
            lines.append(line)
            continue
        flush()
        level, name = len(heading.group(1)), " ".join((heading.group(2) or "").split())
        while stack and stack[-1][0] >= level:
            stack.pop()
        if name:
            stack.append((level, name))
            title = title or (name if level == 1 else None)
    flush()
    return sections, title


def parse_markdown(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """Markdown: a section per heading, carrying the heading path."""
    text = _text(data, limits)
    sections, title = markdown_sections(text)
    if not sections:  # headings and nothing else: the headings are the text
        names = [
            " ".join((m.group(2) or "").split()) for m in map(_ATX.match, text.splitlines()) if m
        ]
        if any(names):
            sections = [Section("\n".join(n for n in names if n))]
    return ParsedDocument(sections=sections, title=title)


_SKIP_TAGS: Final = (
    "script style noscript template svg nav header footer aside form button iframe object "
    "select head"
)
_BLOCK_TAGS: Final = (
    "p div li br tr td th section article main pre blockquote ul ol table dd dt h1 h2 h3 h4 h5 h6"
)


class _HtmlText(HTMLParser):
    """Fallback extractor: visible text by block, headings tracked, boilerplate skipped."""

    SKIP: Final = frozenset(_SKIP_TAGS.split())
    BLOCK: Final = frozenset(_BLOCK_TAGS.split())

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.title = ""
        self._skip: list[str] = []
        self._in_title = False
        self._heading: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Enter skipped subtrees, headings and blocks."""
        if tag == "title":
            self._in_title = True
        elif tag in self.SKIP:
            self._skip.append(tag)
        elif not self._skip and tag in self.BLOCK:
            self.out.append("\n\n")
            if re.fullmatch(r"h[1-6]", tag):
                self._heading = int(tag[1])
                self.out.append("#" * self._heading + " ")

    def handle_endtag(self, tag: str) -> None:
        """Leave skipped subtrees, headings and blocks."""
        if tag == "title":
            self._in_title = False
        elif tag in self.SKIP:
            if tag in self._skip:
                del self._skip[len(self._skip) - 1 - self._skip[::-1].index(tag) :]
        elif not self._skip and tag in self.BLOCK:
            self._heading = None
            self.out.append("\n\n")

    def handle_data(self, data: str) -> None:
        """Keep visible text."""
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.out.append(re.sub(r"\s+", " ", data) if self._heading else data)


_OUTSIDE_CONTENT = "[not(ancestor::article) and not(ancestor::main)]"
_BOILERPLATE: Final = "|".join(
    [f"//{tag}" for tag in ("script", "style", "noscript", "template", "nav", "aside", "form")]
    + [f"//{tag}" for tag in ("iframe", "object", "button", "select")]
    + [f"//header{_OUTSIDE_CONTENT}", f"//footer{_OUTSIDE_CONTENT}"]
)


def parse_html(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """HTML: main text via trafilatura (headings kept), with a careful fallback strip."""
    html = _text(data, limits)
    fallback = _HtmlText()
    fallback.feed(html)
    fallback.close()
    import trafilatura
    from trafilatura.utils import load_html

    tree = load_html(html)
    if tree is not None:
        for element in tree.xpath(_BOILERPLATE):
            element.drop_tree()
    main = trafilatura.extract(
        tree if tree is not None else html,
        output_format="markdown",
        include_comments=False,
        include_tables=True,
        include_images=False,
        favor_recall=True,
    )
    body = main if main and main.strip() else "".join(fallback.out)
    sections, first_heading = markdown_sections(body)
    title = " ".join(fallback.title.split()) or first_heading
    return ParsedDocument(sections=sections, title=title)


def parse_pdf(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """PDF: one section per page with text, refusing encrypted, corrupt and image-only files."""
    import pypdf
    from pypdf.errors import DependencyError, FileNotDecryptedError, PdfReadError

    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):  # an empty user password is fine
            raise UnreadableDocument("the PDF is encrypted")
        count = len(reader.pages)
        if count > limits.max_pdf_pages:
            raise UnreadableDocument(
                f"the PDF has {count:,} pages, more than the limit of {limits.max_pdf_pages:,}"
            )
        sections: list[Section] = []
        total = 0
        for number, page in enumerate(reader.pages, start=1):
            text = page.extract_text() or ""
            total += len(text)
            _check_chars(total, limits)
            sections.append(Section(text, page=number))
        title = reader.metadata.title if reader.metadata else None
    # pypdf's own signals for encryption it cannot open: a password, a missing crypto library,
    # or a scheme it lacks (pypdf/_encryption.py raises the builtin for "V=… NOT supported").
    except (FileNotDecryptedError, DependencyError, NotImplementedError) as exc:
        raise UnreadableDocument("the PDF is encrypted") from exc
    except (PdfReadError, ValueError, KeyError, TypeError, AttributeError, IndexError) as exc:
        raise UnreadableDocument(f"the PDF is corrupt or truncated: {_describe(exc)}") from exc
    if not any(sec.text.strip() for sec in sections):
        raise UnreadableDocument("the PDF has no extractable text (scanned images?)")
    return ParsedDocument(sections=sections, title=title, metadata={"pages": str(count)})


def check_zip(data: bytes, limits: ParseLimits = DEFAULT_LIMITS) -> None:
    """Refuse a ZIP whose central directory promises a bomb, without decompressing anything."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise UnreadableDocument(f"the archive is corrupt: {_describe(exc)}") from exc
    if len(members) > limits.max_zip_members:
        raise UnreadableDocument(_ZIP_BOMB)
    total = 0
    for info in members:
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        name = info.filename.lower()
        nested = name.endswith(_ARCHIVES) and not name.startswith(_EMBEDDINGS_DIR)
        big = info.file_size > _RATIO_FLOOR_BYTES and ratio > limits.max_zip_ratio
        if nested or big or total > limits.max_zip_uncompressed_bytes:
            raise UnreadableDocument(_ZIP_BOMB)


_HEADING_STYLE = re.compile(r"^heading ?(\d)$", re.I)


def _docx_blocks(document: Any) -> Iterator[tuple[int | None, str]]:
    """Yield (heading level or None, text) for each paragraph and table row in body order."""
    from docx.table import Table

    for block in document.iter_inner_content():
        if isinstance(block, Table):
            for row in block.rows:
                cells: list[str] = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):
                        cells.append(text)
                if cells:
                    yield None, " | ".join(cells)
            continue
        style = block.style.name if block.style is not None else ""
        match = _HEADING_STYLE.match(style or "")
        level = 0 if style == "Title" else int(match.group(1)) if match else None
        yield level, block.text


def parse_docx(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """DOCX: paragraphs and table rows, Heading styles building the heading path."""
    check_zip(data, limits)
    import docx

    document = docx.Document(io.BytesIO(data))
    sections: list[Section] = []
    stack: list[tuple[int, str]] = []
    body: list[str] = []
    title, first_heading = document.core_properties.title or None, None
    total = 0
    for level, text in _docx_blocks(document):
        total += len(text)
        _check_chars(total, limits)
        if level is None or not text.strip():
            body.append(text)
            continue
        if body:
            sections.append(Section("\n\n".join(body), tuple(h for _, h in stack)))
            body = []
        name = " ".join(text.split())
        first_heading = first_heading or name
        if level == 0:  # the Title style names the document; it is not a heading level
            continue
        while stack and stack[-1][0] >= level:
            stack.pop()
        stack.append((level, name))
    if body:
        sections.append(Section("\n\n".join(body), tuple(h for _, h in stack)))
    return ParsedDocument(sections=sections, title=title or first_heading)


def _scalar(value: Any) -> str:
    """Render a JSON scalar (null and booleans as JSON spells them)."""
    return json.dumps(value) if value is None or isinstance(value, bool) else str(value)


def flatten_json(value: Any, prefix: str = "") -> Iterator[tuple[str, str]]:
    """Yield (dotted key, text) leaves; lists of scalars are joined with commas."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten_json(item, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list):
        if all(not isinstance(item, dict | list) for item in value):
            yield prefix, ", ".join(_scalar(item) for item in value)
        else:
            for number, item in enumerate(value):
                yield from flatten_json(item, f"{prefix}.{number}" if prefix else str(number))
    else:
        yield prefix, _scalar(value)


def _record(value: Any, sep: str) -> str:
    """One JSON value as readable ``key: value`` pairs (empty values left out)."""
    pairs = flatten_json(value)
    return sep.join(f"{key}: {text}" if key else text for key, text in pairs if text)


def parse_json(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """JSON: one section per record of an array of objects; otherwise flattened key: value lines."""
    value = json.loads(_text(data, limits))
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        sections = [Section(_record(item, "; ")) for item in value]
        return ParsedDocument(sections=sections, metadata={"records": str(len(sections))})
    return ParsedDocument(sections=[Section(_record(value, "\n"))])


def parse_csv(data: bytes, limits: ParseLimits) -> ParsedDocument:
    """CSV/TSV: one section per row as ``column: value`` pairs named by the header row."""
    text = _text(data, limits).replace("\r\n", "\n")
    sample = text[:65536].rsplit("\n", 1)[0] if len(text) > 65536 else text
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel_tab if "\t" in sample.split("\n", 1)[0] else csv.excel
    try:
        rows = [
            row for row in csv.reader(io.StringIO(text), dialect) if any(c.strip() for c in row)
        ]
    except csv.Error as exc:
        raise UnreadableDocument(f"the CSV file is malformed: {_describe(exc)}") from exc
    if not rows:
        return ParsedDocument(sections=[])
    header = [h.strip() or f"column {i}" for i, h in enumerate(rows[0], start=1)]
    if len(rows) == 1:
        return ParsedDocument(sections=[Section("; ".join(header))])
    sections = []
    for row in rows[1:]:
        names = header + [f"column {i}" for i in range(len(header) + 1, len(row) + 1)]
        pairs = [
            f"{name}: {cell.strip()}"
            for name, cell in zip(names, row, strict=False)
            if cell.strip()
        ]
        sections.append(Section("; ".join(pairs)))
    return ParsedDocument(sections=sections, metadata={"rows": str(len(sections))})


_PARSERS: Final[dict[str, tuple[_Parser, str]]] = {
    s.TEXT_PLAIN: (parse_text, "text file"),
    s.TEXT_MARKDOWN: (parse_markdown, "Markdown file"),
    s.TEXT_HTML: (parse_html, "HTML page"),
    s.APPLICATION_PDF: (parse_pdf, "PDF"),
    s.APPLICATION_DOCX: (parse_docx, "Word document"),
    s.APPLICATION_JSON: (parse_json, "JSON file"),
    s.TEXT_CSV: (parse_csv, "CSV file"),
}
