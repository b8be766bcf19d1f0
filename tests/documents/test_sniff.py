"""Content sniffing from bytes (the name only breaks ties between text types) and file names."""

from __future__ import annotations

import codecs
import io
import zipfile

import docx
import pytest

from ragplatform.documents.parsed import UnreadableDocument
from ragplatform.documents.sniff import (
    APPLICATION_DOCX,
    APPLICATION_JSON,
    APPLICATION_PDF,
    SUPPORTED_TYPES,
    TEXT_CSV,
    TEXT_HTML,
    TEXT_MARKDOWN,
    TEXT_PLAIN,
    decode_text,
    looks_like_csv,
    sanitize_filename,
    sniff,
)
from ragplatform.errors import UnsupportedMediaType

# The start of a real PE file: "MZ", DOS header fields (with NUL bytes), the DOS stub message.
EXE = (
    b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00\xb8"
    + b"\x00" * 47
    + b"This program cannot be run in DOS mode.\r\r\n$"
)


def _docx_bytes() -> bytes:
    """A small real Word document."""
    document = docx.Document()
    document.add_paragraph("Hello from Word.")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def _zip(members: dict[str, bytes]) -> bytes:
    """A ZIP archive with the given members."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


def test_supported_types_are_the_seven_formats() -> None:
    assert len(SUPPORTED_TYPES) == 7


def test_pdf_is_known_by_its_magic_whatever_the_name() -> None:
    assert sniff(b"%PDF-1.7\n...", "notes.md") == APPLICATION_PDF
    assert sniff(b"%PDF-1.4\n") == APPLICATION_PDF


def test_a_word_document_is_a_zip_with_word_document_xml() -> None:
    data = _docx_bytes()
    assert sniff(data, "report.docx") == APPLICATION_DOCX
    assert sniff(data, "renamed.pdf") == APPLICATION_DOCX
    assert sniff(_zip({"word/document.xml": b"<w:document/>"})) == APPLICATION_DOCX


@pytest.mark.parametrize(
    ("members", "named"),
    [
        ({"a.txt": b"hello"}, "a ZIP archive"),
        ({"xl/workbook.xml": b"<x/>"}, "an Excel workbook"),
        ({"ppt/presentation.xml": b"<x/>"}, "a PowerPoint presentation"),
        ({"mimetype": b"application/vnd.oasis", "content.xml": b"<x/>"}, "an OpenDocument file"),
    ],
)
def test_other_zip_archives_are_refused_by_name(members: dict[str, bytes], named: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=named):
        sniff(_zip(members), "looks.docx")


def test_a_damaged_zip_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="damaged ZIP"):
        sniff(b"PK\x03\x04" + b"garbage" * 10, "x.docx")


def test_an_executable_renamed_pdf_is_refused() -> None:
    with pytest.raises(UnsupportedMediaType, match="a Windows executable is not a supported"):
        sniff(EXE, "invoice.pdf")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8, "Linux executable"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG image"),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "JPEG image"),
        (b"GIF89a\x01\x00\x01\x00\x80\x00\x00", "GIF image"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip archive"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 8, "legacy Microsoft Office"),
        (b"{\\rtf1\\ansi hello}", "RTF document"),
        (b"SQLite format 3\x00" + b"\x00" * 8, "SQLite database"),
        (b"\x00\x00\x00\x18ftypmp42\x00\x00", "video or image container"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "WebP image"),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", "WAV audio"),
        (b"RIFF\x24\x00\x00\x00AVI LIST", "AVI video"),
        (b"ID3\x04\x00\x00\x00\x00\x00\x00", "MP3 audio"),
        (b"hello\x00world", "NUL bytes"),
    ],
)
def test_binary_formats_are_refused_naming_what_was_found(data: bytes, named: str) -> None:
    with pytest.raises(UnsupportedMediaType, match=named):
        sniff(data, "file.txt")


def test_undecodable_bytes_are_refused() -> None:
    noise = bytes((i * 73 + 41) % 256 for i in range(4000)).replace(b"\x00", b"\x01")
    with pytest.raises(UnsupportedMediaType, match="neither a known document format nor"):
        sniff(noise)


def test_empty_data_is_unreadable_not_unsupported() -> None:
    with pytest.raises(UnreadableDocument, match="the file is empty"):
        sniff(b"", "empty.pdf")


def test_text_starting_with_mz_is_still_text() -> None:
    assert sniff(b"MZ Logistics quarterly notes.\nAll good.") == TEXT_PLAIN


def test_text_encodings_are_decoded() -> None:
    assert decode_text(codecs.BOM_UTF8 + "café".encode()) == "café"
    assert decode_text(codecs.BOM_UTF16_LE + "naïve text".encode("utf-16-le")) == "naïve text"
    assert decode_text(codecs.BOM_UTF16_LE + b"\x00\xd8") is None  # a lone surrogate
    german = "Größere Änderungen für Straße und übermäßig viele Umlaute. Schön!\n" * 3
    assert decode_text(german.encode("cp1252")) == german  # charset_normalizer's best guess
    polish = "Zażółć gęślą jaźń. Pchnąć w tę łódź jeża lub ośm skrzyń fig.\n" * 3
    assert decode_text(polish.encode("cp1250")) == polish
    assert sniff(codecs.BOM_UTF16_BE + "plain words".encode("utf-16-be")) == TEXT_PLAIN


def test_text_full_of_control_characters_is_not_text() -> None:
    assert decode_text(b"\x01\x02\x03\x04\x05 text \x06\x07\x08") is None


@pytest.mark.parametrize(
    "data",
    [b'{"a": 1}', b'  [{"a": 1}, {"a": 2}]\n', b"[]"],
)
def test_json_objects_and_arrays(data: bytes) -> None:
    assert sniff(data, "data.txt") == APPLICATION_JSON


def test_json_scalars_and_broken_json_are_not_json() -> None:
    assert sniff(b"42") == TEXT_PLAIN
    assert sniff(b"{not json at all") == TEXT_PLAIN
    assert sniff(b"[" * 100_000) == TEXT_PLAIN  # too deep for the parser: not JSON


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (b"<!DOCTYPE html><html><body><p>Hi</p></body></html>", None),
        (b"\n  <html lang='en'><p>Hi</p></html>", "page.txt"),
        (b"<?xml version='1.0'?>\n<!-- c -->\n<html><p>x</p></html>", None),
        (b"Some preamble\n<body><p>Hello</p></body>", None),
        (b"<div class='x'><p>fragment</p></div>", None),
        (b"Intro then <p>a paragraph</p>", "page.html"),
    ],
)
def test_html(data: bytes, name: str | None) -> None:
    assert sniff(data, name) == TEXT_HTML


def test_markdown_by_name_or_by_headings() -> None:
    assert sniff(b"just words", "README.md") == TEXT_MARKDOWN
    assert sniff(b"just words", "notes.markdown") == TEXT_MARKDOWN
    assert sniff(b"Intro\n\n## Usage\n\nRun it.") == TEXT_MARKDOWN
    assert sniff(b"# Title\nbody", "notes.txt") == TEXT_PLAIN
    assert sniff(b"# a comment\nimport os\n", "script.py") == TEXT_PLAIN
    assert sniff(b"#hashtag is not a heading") == TEXT_PLAIN


def test_csv_by_name_or_by_a_consistent_delimiter() -> None:
    assert sniff(b"anything", "table.csv") == TEXT_CSV
    assert sniff(b"a\tb\n1\t2", "table.TSV") == TEXT_CSV
    assert sniff(b'name,city\n"Smith, J",London\nAda,"Paris"\n') == TEXT_CSV
    assert sniff("id;name\n1;Zoë\n2;Łukasz\n".encode()) == TEXT_CSV
    assert sniff(b"x\ty\tz\n1\t2\t3\n") == TEXT_CSV


def test_prose_with_commas_is_not_csv() -> None:
    assert sniff(b"Hello, world.\nWell, this is prose.\nYes, it is.") == TEXT_PLAIN
    assert sniff(b"one, two\n\nthree, four") == TEXT_PLAIN  # a blank line: paragraphs
    assert sniff(b"a,b\nc,d,e\n") == TEXT_PLAIN  # inconsistent widths
    assert sniff(b"only one line, with a comma") == TEXT_PLAIN


def test_csv_sample_ignores_a_cut_off_last_line() -> None:
    body = "".join(f"{i},name {i},{i * 2}\n" for i in range(2000))
    assert looks_like_csv(body[:4096])
    assert looks_like_csv("a,b\n1,2\n\n\n")
    assert not looks_like_csv("no delimiter here\nnor here\n")


def test_plain_text() -> None:
    assert sniff(b"Just a note.\n\nWith two paragraphs.") == TEXT_PLAIN
    assert sniff("Ünïcödé text 文件".encode()) == TEXT_PLAIN


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("report.pdf", "report.pdf"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\boot.ini", "boot.ini"),
        ("C:\\Users\\me\\Desktop\\notes.txt", "notes.txt"),
        ("a\x00b\x1fc.txt", "abc.txt"),
        ("  many   spaces\t\nname.txt ", "many spaces name.txt"),
        ("\u202eevil\u200b.txt", "evil.txt"),
        ('a<b>:c|d?e*"f.txt', "a_b__c_d_e__f.txt"),
        ("Ünïcödé 文件.pdf", "Ünïcödé 文件.pdf"),
        (".hidden", "hidden"),
        ("trailing.", "trailing"),
        ("CON.txt", "_CON.txt"),
        ("..", "document"),
        ("/", "document"),
        ("", "document"),
        (None, "document"),
        (".pdf", "pdf"),
        ("archive.tar.gz", "archive.tar.gz"),
        ("weird.ext with space", "weird.ext with space"),
    ],
)
def test_sanitize_filename(name: str | None, expected: str) -> None:
    assert sanitize_filename(name) == expected


def test_sanitize_filename_limits_length_and_keeps_the_extension() -> None:
    name = sanitize_filename("é" * 300 + ".pdf")
    assert len(name) == 200
    assert name.endswith("é.pdf")
    assert len(sanitize_filename("x" * 500)) == 200
    assert (
        sanitize_filename("a." + "b" * 40) == "a." + "b" * 40
    )  # a long "extension" is no extension
