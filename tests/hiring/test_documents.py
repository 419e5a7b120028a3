"""read_document: text out of plain text, Markdown, PDF and DOCX, and clear refusals."""

from __future__ import annotations

import io
import zipfile

import docx
import pytest
from fpdf import FPDF
from pypdf import PdfWriter

from hiring.documents import (
    CorruptDocument,
    DocumentKind,
    DocumentTooLarge,
    NoTextInDocument,
    UnsupportedDocument,
    read_document,
)

RESUME_LINES = [
    "Sam Doe - Backend Engineer",
    "Built a Django REST Framework API on PostgreSQL for 2 million users.",
    "Runs services on Kubernetes; sam@example.org",
]


def make_pdf(lines: list[str], pages: int = 1) -> bytes:
    pdf = FPDF()
    pdf.set_font("Helvetica", size=12)
    for _ in range(pages):
        pdf.add_page()
        for line in lines:
            pdf.cell(0, 10, line, new_x="LMARGIN", new_y="NEXT")
    return bytes(pdf.output())


def make_scanned_pdf() -> bytes:
    """A PDF whose only page content is a drawing, as a scanner's output has no text layer."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_fill_color(40, 40, 40)
    for row in range(20):
        pdf.rect(20, 20 + row * 10, 150, 4, style="F")
    return bytes(pdf.output())


def make_docx() -> bytes:
    document = docx.Document()
    document.add_heading("Sam Doe", level=1)
    document.add_paragraph(RESUME_LINES[1])
    table = document.add_table(rows=2, cols=3)
    table.cell(0, 0).text = "Skill"
    table.cell(0, 1).text = "Years"
    table.cell(0, 2).text = "Level"
    table.cell(1, 0).text = "Kubernetes"
    table.cell(1, 1).text = "4"
    table.cell(1, 2).text = "expert"
    merged = document.add_table(rows=1, cols=2)
    merged.cell(0, 0).merge(merged.cell(0, 1))
    merged.cell(0, 0).text = "Languages: Go, Python"
    document.add_paragraph("Contact: sam@example.org")
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def test_plain_text_is_returned_tidied():
    data = b"Senior nurse\r\n\r\n\r\n\r\nICU, 8 years   \r\n"
    doc = read_document(data, "cv.txt", "text/plain")
    assert doc.kind is DocumentKind.TEXT
    assert doc.text == "Senior nurse\n\nICU, 8 years"


def test_text_in_windows_encodings_is_decoded():
    assert read_document("Café manager – Zürich".encode("cp1252"), "cv.txt").text == (
        "Café manager – Zürich"
    )
    assert read_document("Ärztin".encode("utf-16"), "cv.txt").text == "Ärztin"
    assert read_document(b"\xef\xbb\xbfHello", None).text == "Hello"


def test_markdown_markup_is_removed_but_words_and_links_kept():
    data = b"""# Senior Backend Engineer

**Location:** Berlin (Europe/Berlin)

## Requirements
* 5+ years of *Python*
* Experience with `PostgreSQL`
- See [our handbook](https://acme.example/handbook)

> We value kindness.
"""
    doc = read_document(data, "job.md")
    assert doc.kind is DocumentKind.MARKDOWN
    assert doc.text.splitlines()[0] == "Senior Backend Engineer"
    assert "Location: Berlin (Europe/Berlin)" in doc.text
    assert "- 5+ years of Python" in doc.text
    assert "- Experience with PostgreSQL" in doc.text
    assert "our handbook (https://acme.example/handbook)" in doc.text
    assert "We value kindness." in doc.text
    assert "#" not in doc.text and "**" not in doc.text and "`" not in doc.text


def test_markdown_by_content_type():
    doc = read_document(b"## Title\nbody", None, "text/markdown; charset=utf-8")
    assert doc.kind is DocumentKind.MARKDOWN
    assert doc.text == "Title\nbody"


def test_pdf_text_is_extracted():
    doc = read_document(make_pdf(RESUME_LINES), "cv.pdf", "application/pdf")
    assert doc.kind is DocumentKind.PDF
    for term in ("Django REST Framework", "PostgreSQL", "Kubernetes", "sam@example.org"):
        assert term in doc.text


def test_pdf_is_recognised_by_its_bytes_whatever_its_name():
    doc = read_document(make_pdf(RESUME_LINES), "cv.txt", "text/plain")
    assert doc.kind is DocumentKind.PDF
    assert "Kubernetes" in doc.text


def test_docx_paragraphs_and_tables_in_order():
    doc = read_document(make_docx(), "cv.docx")
    assert doc.kind is DocumentKind.DOCX
    lines = doc.text.splitlines()
    assert lines[0] == "Sam Doe"
    assert lines[1] == RESUME_LINES[1]
    assert lines[2:5] == [
        "Skill | Years | Level",
        "Kubernetes | 4 | expert",
        "Languages: Go, Python",
    ]
    assert lines[-1] == "Contact: sam@example.org"


def test_scanned_pdf_is_refused_with_what_to_do():
    with pytest.raises(NoTextInDocument, match="looks scanned.*paste the text"):
        read_document(make_scanned_pdf(), "scan.pdf")


def test_truncated_pdf_is_reported_corrupt():
    data = make_pdf(RESUME_LINES)
    with pytest.raises(CorruptDocument, match="'cv.pdf'.*re-upload"):
        read_document(data[: len(data) // 3], "cv.pdf")


def test_password_protected_pdf_is_reported():
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(RESUME_LINES)))
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    with pytest.raises(CorruptDocument, match="password"):
        read_document(out.getvalue(), "locked.pdf")


def test_pdf_with_an_empty_owner_password_is_read():
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(RESUME_LINES)))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    assert "Kubernetes" in read_document(out.getvalue(), "cv.pdf").text


def test_damaged_docx_is_reported_corrupt():
    data = make_docx()
    with pytest.raises(CorruptDocument, match="DOCX"):
        read_document(data[:200], "cv.docx")


def test_docx_name_on_other_bytes_is_reported_corrupt():
    with pytest.raises(CorruptDocument, match="not a valid DOCX"):
        read_document(b"just some words", "cv.docx")


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "cv.doc", "legacy Word"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "cv.png", "no OCR"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 100, None, "JPEG"),
        (b"{\\rtf1\\ansi hello}", "cv.rtf", "RTF"),
        (b"\x01\x02\x00\x00binary", "cv.bin", "binary"),
    ],
)
def test_unsupported_kinds_say_what_to_do(data, filename, message):
    with pytest.raises(UnsupportedDocument, match=message) as caught:
        read_document(data, filename)
    assert "Save it as PDF, DOCX" in str(caught.value)


def test_spreadsheets_and_plain_zips_are_unsupported():
    def zipped(entry: str) -> bytes:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w") as archive:
            archive.writestr(entry, "<x/>")
        return out.getvalue()

    with pytest.raises(UnsupportedDocument, match="spreadsheet"):
        read_document(zipped("xl/workbook.xml"), "cv.xlsx")
    with pytest.raises(UnsupportedDocument, match="ZIP archive"):
        read_document(zipped("notes.txt"), "cv.zip")


def test_empty_and_oversized_files():
    with pytest.raises(NoTextInDocument, match="holds no text"):
        read_document(b"  \n\n ", "empty.txt")
    with pytest.raises(DocumentTooLarge, match="at most 20 MB"):
        read_document(b"x" * (20 * 1024 * 1024 + 1), "huge.txt")


def test_errors_are_value_errors_so_steps_do_not_retry_them():
    with pytest.raises(ValueError):
        read_document(b"", "empty.txt")
