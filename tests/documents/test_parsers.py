"""Parsers: every format to sections, and every hostile or broken file to UnreadableDocument."""

from __future__ import annotations

import io
import json
import time
import tracemalloc
import zipfile

import docx
import pypdf
import pytest

from ragplatform.documents import parsers
from ragplatform.documents.parsed import Section, UnreadableDocument
from ragplatform.documents.parsers import ParseLimits, check_zip, flatten_json, parse
from ragplatform.documents.sniff import (
    APPLICATION_DOCX,
    APPLICATION_JSON,
    APPLICATION_PDF,
    TEXT_CSV,
    TEXT_HTML,
    TEXT_MARKDOWN,
    TEXT_PLAIN,
    sniff,
)
from ragplatform.errors import UnsupportedMediaType

# --------------------------------------------------------------------------- fixtures


def make_pdf(pages: list[list[str]], *, title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text line per string, a correct xref table."""
    page_ids = [4 + 2 * i for i in range(len(pages))]
    kids = " ".join(f"{pid} 0 R" for pid in page_ids)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for pid, lines in zip(page_ids, pages, strict=True):
        objects.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            b"/Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>" % (pid + 1)
        )
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
        for line in lines:
            escaped = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({escaped}) Tj T*")
        stream = "\n".join([*ops, "ET"]).encode("latin-1") if lines else b""
        objects.append(b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream))
    info = ""
    if title is not None:
        objects.append(f"<< /Title ({title}) >>".encode("latin-1"))
        info = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R%s >>\n" % (len(objects) + 1, info.encode())
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def encrypt_pdf(data: bytes, *, user_password: str) -> bytes:
    """The same PDF encrypted with RC4 (no optional crypto dependency needed)."""
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def make_docx(*, core_title: str | None = None, with_title_style: bool = True) -> bytes:
    """A Word document with a Title, nested headings, paragraphs and a table."""
    document = docx.Document()
    if core_title:
        document.core_properties.title = core_title
    if with_title_style:
        document.add_heading("Annual Report", 0)
    document.add_paragraph("Opening words before any heading.")
    document.add_heading("Finance", 1)
    document.add_paragraph("Revenue grew by ten percent.")
    document.add_heading("Costs", 2)
    document.add_paragraph("Costs fell slightly.")
    table = document.add_table(rows=2, cols=3)
    for col, text in enumerate(["Item", "Amount", "Note"]):
        table.cell(0, col).text = text
    table.cell(1, 0).text = "Rent"
    table.cell(1, 1).text = "1200"
    table.cell(1, 2).text = ""
    table.add_row()  # a row of empty cells
    document.add_paragraph("   ")  # an empty paragraph
    document.add_heading("People", 1)
    document.add_paragraph("We hired three engineers.")
    document.add_heading("Appendix", 1)  # a heading with nothing under it
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def rezip(
    data: bytes, *, replace: dict[str, bytes] | None = None, add: dict[str, bytes] | None = None
) -> bytes:
    """Copy a ZIP, replacing or adding members."""
    replace, add = replace or {}, add or {}
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for info in source.infolist():
            target.writestr(info.filename, replace.get(info.filename, source.read(info.filename)))
        for name, content in add.items():
            target.writestr(name, content)
    return out.getvalue()


@pytest.fixture(scope="module")
def zip_bomb() -> bytes:
    """A "docx" whose word/document.xml inflates to 300 MiB of zeros, written in 1 MiB blocks."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", b"<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(300):
                member.write(block)
    return out.getvalue()


# --------------------------------------------------------------------------- dispatch


def test_unknown_types_are_unsupported() -> None:
    with pytest.raises(UnsupportedMediaType, match="image/png"):
        parse(b"\x89PNG", "image/png")


def test_media_type_parameters_are_ignored() -> None:
    doc = parse(b"hello", "Text/Plain; charset=utf-8")
    assert doc.sections == [Section("hello")]


@pytest.mark.parametrize("mime", sorted(parsers._PARSERS))
def test_every_parser_refuses_empty_data(mime: str) -> None:
    with pytest.raises(UnreadableDocument, match="the file is empty"):
        parse(b"", mime)


def test_filename_is_kept_sanitized_in_metadata() -> None:
    doc = parse(b"hello", TEXT_PLAIN, filename="../secret/notes.txt")
    assert doc.metadata["filename"] == "notes.txt"


def test_unexpected_library_errors_become_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("kaput\nsecond line")

    monkeypatch.setattr("trafilatura.extract", boom)
    with pytest.raises(
        UnreadableDocument,
        match=r"the HTML page could not be parsed: RuntimeError: kaput second line",
    ):
        parse(b"<html><body><p>x</p></body></html>", TEXT_HTML)


def test_memory_errors_become_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    def exhausted(*_: object, **__: object) -> None:
        raise MemoryError

    monkeypatch.setattr("json.loads", exhausted)
    with pytest.raises(UnreadableDocument, match="too large to parse"):
        parse(b"{}", APPLICATION_JSON)


def test_text_beyond_the_character_ceiling_is_refused() -> None:
    limits = ParseLimits(max_text_chars=10)
    with pytest.raises(UnreadableDocument, match="more than 10 characters"):
        parse(b"x" * 11, TEXT_PLAIN, limits=limits)


# --------------------------------------------------------------------------- text


def test_plain_text_paragraphs() -> None:
    doc = parse(b"First paragraph\nstill first.\r\n\r\n  \nSecond one.\n\n\n\nThird.", TEXT_PLAIN)
    assert [s.text for s in doc.sections] == [
        "First paragraph\nstill first.",
        "Second one.",
        "Third.",
    ]
    assert doc.title is None


def test_text_is_cleaned_of_control_characters() -> None:
    doc = parse("bell\x07 here\u00a0\nand cafe\u0301".encode(), TEXT_PLAIN)
    assert doc.sections[0].text == "bell here\nand café"


def test_whitespace_only_text_has_no_text() -> None:
    with pytest.raises(UnreadableDocument, match="the document contains no text"):
        parse(b" \n\t\n  ", TEXT_PLAIN)


def test_undecodable_text_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument, match="not readable text"):
        parse(b"abc\x00\x01\x02", TEXT_PLAIN)


def test_legacy_encodings_are_decoded() -> None:
    text = "Größere Änderungen für Straße und übermäßig viele Umlaute. Schön!"
    doc = parse((text + "\n").encode("cp1252") * 3, TEXT_PLAIN)
    assert doc.sections[0].text.startswith(text)


# --------------------------------------------------------------------------- markdown

MARKDOWN = b"""Preamble text.

# Guide

Intro to the guide.

## Install ##

Run the installer.

```bash
# this is a comment, not a heading
pip install thing
```

### On Linux

Use the package manager.

## Usage

Call it.

#

Text after an empty heading.

# Appendix
~~~
## still code
~~~
"""


def test_markdown_builds_heading_paths() -> None:
    doc = parse(MARKDOWN, TEXT_MARKDOWN)
    assert doc.title == "Guide"
    paths = [(s.heading_path, s.text.splitlines()[0]) for s in doc.sections]
    assert paths == [
        ((), "Preamble text."),
        (("Guide",), "Intro to the guide."),
        (("Guide", "Install"), "Run the installer."),
        (("Guide", "Install", "On Linux"), "Use the package manager."),
        (("Guide", "Usage"), "Call it."),
        ((), "Text after an empty heading."),
        (("Appendix",), "## still code"),
    ]
    install = doc.sections[2].text
    assert "# this is a comment, not a heading" in install
    assert "pip install thing" in install
    assert "```" not in install


def test_markdown_skipped_levels_and_no_title() -> None:
    doc = parse(b"### Deep\ntext\n# Top\nmore\n### Deeper\nend", TEXT_MARKDOWN)
    assert [s.heading_path for s in doc.sections] == [("Deep",), ("Top",), ("Top", "Deeper")]
    assert parse(b"## Only a subheading\nbody", TEXT_MARKDOWN).title is None


# --------------------------------------------------------------------------- html

HTML = b"""<!DOCTYPE html>
<html><head><title>  The   Page Title </title>
<style>.secret { color: red } STYLETEXT</style>
<script>var leaked = "SCRIPTTEXT";</script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/x">NAVLINK</a></li></ul></nav>
<header>SITEHEADER banner</header>
<main><article>
<h1>Main Heading</h1>
<p>The first paragraph of the article has enough words to be taken as the main content.</p>
<h2>Details</h2>
<p>A second paragraph under the details heading, again with a good number of words.</p>
<table><tr><th>Name</th><th>Score</th></tr><tr><td>Ada</td><td>42</td></tr></table>
</article></main>
<aside>ASIDETEXT related links</aside>
<footer>FOOTERTEXT copyright</footer>
<script>track("SCRIPT2")</script>
</body></html>"""


def test_html_keeps_the_main_text_and_drops_boilerplate() -> None:
    doc = parse(HTML, sniff(HTML, "page.html"))
    text = "\n".join(s.text for s in doc.sections)
    assert doc.title == "The Page Title"
    assert "first paragraph of the article" in text
    assert "Ada" in text
    for junk in (
        "STYLETEXT",
        "SCRIPTTEXT",
        "SCRIPT2",
        "NAVLINK",
        "SITEHEADER",
        "ASIDETEXT",
        "FOOTERTEXT",
        "leaked",
    ):
        assert junk not in text
    paths = {s.heading_path for s in doc.sections}
    assert ("Main Heading", "Details") in paths


def test_html_fragment() -> None:
    html = (
        b"<nav>NAVTEXT</nav><script>x=1</script><h2>Small   heading</h2>"
        b"<p>Tiny &amp; short.</p><br>Tail"
    )
    doc = parse(html, TEXT_HTML)
    assert doc.title is None  # no <title> and no level-1 heading
    assert doc.sections[0].heading_path == ("Small heading",)
    assert "Tiny & short." in doc.sections[0].text
    assert "Tail" in doc.sections[0].text
    assert "NAVTEXT" not in doc.sections[0].text
    assert "x=1" not in doc.sections[0].text


def test_html_fragment_that_lxml_loading_rejects() -> None:
    doc = parse(b"<p>tiny</p>", TEXT_HTML)
    assert doc.sections == [Section("tiny")]


def test_html_fallback_strip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("trafilatura.extract", lambda *_, **__: None)
    html = (
        b"<html><head><title>T</title><style>p{}</style></head><body><div><nav><div>NAV</div>"
        b"<nav>inner</nav></nav><p>Kept</p></div><h1>Big  <b>Title</b></h1><p>Under\n it</p>"
        b"<footer>F</footer></footer><p>Last</p></body></html>"
    )
    doc = parse(html, TEXT_HTML)
    assert doc.title == "T"
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        ((), "Kept"),
        (("Big Title",), "Under\n it\n\nLast"),
    ]


def test_html_with_only_scripts_has_no_text() -> None:
    with pytest.raises(UnreadableDocument, match="contains no text"):
        parse(b"<html><head><script>alert(1)</script></head><body></body></html>", TEXT_HTML)


# --------------------------------------------------------------------------- pdf


def test_pdf_text_per_page_with_page_numbers() -> None:
    data = make_pdf(
        [["Page one, line one.", "Line (two) \\ done."], [], ["Third page text."]],
        title="Doc Title",
    )
    doc = parse(data, sniff(data, "x.pdf"))
    assert [(s.page, s.text) for s in doc.sections] == [
        (1, "Page one, line one.\nLine (two) \\ done."),
        (3, "Third page text."),
    ]
    assert doc.title == "Doc Title"
    assert doc.metadata["pages"] == "3"


def test_encrypted_pdf_is_refused() -> None:
    data = encrypt_pdf(make_pdf([["Secret text."]]), user_password="s3cret")
    with pytest.raises(UnreadableDocument, match=r"^the PDF is encrypted$"):
        parse(data, APPLICATION_PDF)


def test_pdf_encrypted_with_an_empty_user_password_is_read() -> None:
    data = encrypt_pdf(make_pdf([["Readable after all."]]), user_password="")
    doc = parse(data, APPLICATION_PDF)
    assert doc.sections[0].text == "Readable after all."


def test_pdf_needing_a_missing_crypto_library_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pypdf.errors import DependencyError

    def missing(*_: object, **__: object) -> None:
        raise DependencyError("cryptography is required for AES")

    data = encrypt_pdf(make_pdf([["x"]]), user_password="")
    monkeypatch.setattr(pypdf.PdfReader, "decrypt", missing)
    with pytest.raises(UnreadableDocument, match="encrypted"):
        parse(data, APPLICATION_PDF)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_truncated_pdf_is_corrupt(cut: float) -> None:
    data = make_pdf([["Some text."], ["More text."]])
    with pytest.raises(UnreadableDocument, match=r"^the PDF is corrupt or truncated: "):
        parse(data[: int(len(data) * cut)], APPLICATION_PDF)


def test_garbage_after_the_pdf_magic_is_corrupt() -> None:
    with pytest.raises(UnreadableDocument, match="corrupt or truncated"):
        parse(b"%PDF-1.4\n" + bytes(range(256)) * 4, APPLICATION_PDF)


def test_pdf_without_text_is_refused() -> None:
    data = make_pdf([[], []])
    with pytest.raises(UnreadableDocument, match=r"no extractable text \(scanned images\?\)"):
        parse(data, APPLICATION_PDF)


def test_pdf_page_and_text_ceilings() -> None:
    data = make_pdf([["a"], ["b"], ["c"]])
    with pytest.raises(UnreadableDocument, match="3 pages, more than the limit of 2"):
        parse(data, APPLICATION_PDF, limits=ParseLimits(max_pdf_pages=2))
    with pytest.raises(UnreadableDocument, match="more than 2 characters"):
        parse(data, APPLICATION_PDF, limits=ParseLimits(max_text_chars=2))


# --------------------------------------------------------------------------- docx


def test_docx_headings_paragraphs_and_tables() -> None:
    data = make_docx()
    doc = parse(data, sniff(data, "report.docx"))
    assert doc.title == "Annual Report"
    assert [(s.heading_path, s.text) for s in doc.sections] == [
        ((), "Opening words before any heading."),
        (("Finance",), "Revenue grew by ten percent."),
        (("Finance", "Costs"), "Costs fell slightly.\n\nItem | Amount | Note\n\nRent | 1200"),
        (("People",), "We hired three engineers."),
    ]


def test_docx_title_prefers_core_properties_then_first_heading() -> None:
    assert (
        parse(make_docx(core_title="From Properties"), APPLICATION_DOCX).title == "From Properties"
    )
    assert parse(make_docx(with_title_style=False), APPLICATION_DOCX).title == "Finance"


def test_docx_merged_cells_are_not_repeated() -> None:
    document = docx.Document()
    table = document.add_table(rows=1, cols=3)
    merged = table.cell(0, 0).merge(table.cell(0, 1))
    merged.text = "Wide"
    table.cell(0, 2).text = "Narrow"
    out = io.BytesIO()
    document.save(out)
    assert parse(out.getvalue(), APPLICATION_DOCX).sections[0].text == "Wide | Narrow"


def test_docx_zip_bomb_is_refused_fast_without_inflating(zip_bomb: bytes) -> None:
    assert len(zip_bomb) < 2 * 1024 * 1024
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(
            UnreadableDocument, match=r"^the archive expands too much \(zip bomb\?\)$"
        ):
            parse(zip_bomb, APPLICATION_DOCX)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 8 * 1024 * 1024  # 300 MiB were never inflated


def test_zip_bomb_by_total_size_members_and_nesting() -> None:
    data = make_docx()
    with pytest.raises(UnreadableDocument, match="zip bomb"):
        check_zip(data, ParseLimits(max_zip_uncompressed_bytes=1000))
    with pytest.raises(UnreadableDocument, match="zip bomb"):
        check_zip(data, ParseLimits(max_zip_members=3))
    with pytest.raises(UnreadableDocument, match="zip bomb"):
        parse(
            rezip(data, add={"word/media/inner.zip": b"PK\x05\x06" + b"\0" * 18}), APPLICATION_DOCX
        )
    check_zip(data)  # a real document passes


def test_zip_bomb_by_ratio_of_one_member() -> None:
    bomb = rezip(make_docx(), add={"word/media/zeros.bin": b"\0" * (4 * 1024 * 1024)})
    with pytest.raises(UnreadableDocument, match="zip bomb"):
        parse(bomb, APPLICATION_DOCX)


def test_embedded_office_packages_are_allowed() -> None:
    data = rezip(make_docx(), add={"word/embeddings/Sheet1.zip": b"PK\x05\x06" + b"\0" * 18})
    assert parse(data, APPLICATION_DOCX).title == "Annual Report"


def test_corrupt_docx_is_unreadable() -> None:
    with pytest.raises(UnreadableDocument, match="the archive is corrupt"):
        parse(b"PK\x03\x04 not really a zip", APPLICATION_DOCX)
    broken_xml = rezip(make_docx(), replace={"word/document.xml": b"<w:document><unclosed>"})
    with pytest.raises(UnreadableDocument, match="the Word document could not be parsed"):
        parse(broken_xml, APPLICATION_DOCX)
    no_parts = rezip(b"PK\x05\x06" + b"\0" * 18, add={"word/document.xml": b"<x/>"})
    with pytest.raises(UnreadableDocument, match="could not be parsed"):
        parse(no_parts, APPLICATION_DOCX)


def test_docx_entity_expansion_is_refused_quickly() -> None:
    data = make_docx()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read("word/document.xml").decode()
    entities = (
        '<!DOCTYPE d [<!ENTITY l0 "lol">'
        + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
        + "]>"
    )
    xml = xml.replace("?>", "?>" + entities, 1).replace("Revenue grew", "&l9; grew")
    started = time.perf_counter()
    with pytest.raises(UnreadableDocument):
        parse(rezip(data, replace={"word/document.xml": xml.encode()}), APPLICATION_DOCX)
    assert time.perf_counter() - started < 1.0


def test_docx_text_ceiling() -> None:
    with pytest.raises(UnreadableDocument, match="more than 20 characters"):
        parse(make_docx(), APPLICATION_DOCX, limits=ParseLimits(max_text_chars=20))


# --------------------------------------------------------------------------- json

RECORDS = [
    {
        "name": "Ada Lovelace",
        "born": 1815,
        "tags": ["math", "poetry"],
        "address": {"city": "London", "zip": None},
    },
    {
        "name": "Zoë",
        "active": True,
        "authors": [{"name": "A"}, {"name": "B"}],
        "empty": [],
        "e": "",
    },
]


def test_json_array_of_records_is_one_section_per_record() -> None:
    doc = parse(json.dumps(RECORDS).encode(), APPLICATION_JSON)
    assert [s.text for s in doc.sections] == [
        "name: Ada Lovelace; born: 1815; tags: math, poetry; "
        "address.city: London; address.zip: null",
        "name: Zoë; active: true; authors.0.name: A; authors.1.name: B",
    ]
    assert doc.metadata["records"] == "2"


def test_other_json_is_flattened() -> None:
    doc = parse(b'{"a": {"b": [1, {"c": false}]}, "d": "x"}', APPLICATION_JSON)
    assert doc.sections[0].text == "a.b.0: 1\na.b.1.c: false\nd: x"
    assert parse(b'["one", 2]', APPLICATION_JSON).sections[0].text == "one, 2"
    assert parse(b'"just a string"', APPLICATION_JSON).sections[0].text == "just a string"
    assert list(flatten_json([[1], [2]])) == [("0", "1"), ("1", "2")]


def test_broken_and_hostile_json_is_unreadable() -> None:
    with pytest.raises(
        UnreadableDocument, match="the JSON file could not be parsed: JSONDecodeError"
    ):
        parse(b'{"a": ', APPLICATION_JSON)
    with pytest.raises(UnreadableDocument, match="nested too deeply"):
        parse(b"[" * 200_000 + b"]" * 200_000, APPLICATION_JSON)
    with pytest.raises(UnreadableDocument, match="contains no text"):
        parse(b"[]", APPLICATION_JSON)


# --------------------------------------------------------------------------- csv


def test_csv_rows_with_quoted_commas_and_unicode() -> None:
    data = 'name,city,note\n"Smith, John",Zürich,"says ""hi"""\nŁukasz,東京,\n\n'.encode()
    doc = parse(data, sniff(data, "people.csv"))
    assert [s.text for s in doc.sections] == [
        'name: Smith, John; city: Zürich; note: says "hi"',
        "name: Łukasz; city: 東京",
    ]
    assert doc.metadata["rows"] == "2"


def test_tsv_semicolons_and_ragged_rows() -> None:
    assert parse(b"a\tb\n1\t2\n", TEXT_CSV).sections[0].text == "a: 1; b: 2"
    assert parse(b"a;b\n1;2\n3;4\n", TEXT_CSV).sections[1].text == "a: 3; b: 4"
    ragged = parse(b"a,\n1,2,3\n", TEXT_CSV).sections[0].text
    assert ragged == "a: 1; column 2: 2; column 3: 3"


def test_csv_without_a_sniffable_dialect() -> None:
    assert parse(b"single\nvalue\n", TEXT_CSV).sections[0].text == "single: value"
    assert parse(b"x\ty\n", TEXT_CSV).sections[0].text == "x; y"


def test_csv_header_only_and_blank() -> None:
    assert parse(b"a,b,c\n", TEXT_CSV).sections[0].text == "a; b; c"
    with pytest.raises(UnreadableDocument, match="contains no text"):
        parse(b",,\n,,\n", TEXT_CSV)


def test_csv_with_a_huge_field_is_unreadable() -> None:
    data = b'a,b\n"' + b"x" * 200_000 + b'",1\n'
    with pytest.raises(UnreadableDocument, match="the CSV file is malformed"):
        parse(data, TEXT_CSV)


def test_large_csv_sample_is_cut_at_a_line() -> None:
    data = ("id,word\n" + "".join(f"{i},w{i}\n" for i in range(20_000))).encode()
    doc = parse(data, TEXT_CSV)
    assert len(doc.sections) == 20_000
    assert doc.sections[-1].text == "id: 19999; word: w19999"


def test_markdown_of_headings_only_keeps_the_heading_words() -> None:
    from ragplatform.documents.parsers import parse as parse_any

    doc = parse_any(b"# Beavers\n## Dams", "text/markdown")
    assert [s.text for s in doc.sections] == ["Beavers\nDams"]
    assert doc.title == "Beavers"
