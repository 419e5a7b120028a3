"""Text out of the documents people upload: job descriptions and résumés.

:func:`read_document` turns the bytes of a plain-text, Markdown, PDF or DOCX file into a
:class:`Document` — its readable text and what kind of file it was. It never guesses
silently: a file it cannot read raises a :class:`DocumentError` whose message says what was
wrong and what the person can do (save as PDF or DOCX, paste the text, ...).

Invariants:
- The kind is decided by the bytes first (``%PDF-``, a ZIP holding ``word/document.xml``,
  an OLE2 ``.doc``), then by the file name and content type; a name that contradicts the bytes
  does not win, so a PDF named ``cv.txt`` is read as a PDF.
- DOCX text keeps the document's order of paragraphs and tables (python-docx's
  ``paragraphs`` alone skips tables); a table row becomes one line, cells joined by `` | ``.
- A PDF with (almost) no extractable text is reported as scanned, never returned as an empty
  document: the scorer must not see an empty résumé as a poor fit.
- Every error is permanent (the same bytes fail the same way): a durable step should not
  retry it, so they derive from ``ValueError``, not from a transient error type.
"""

from __future__ import annotations

import codecs
import dataclasses
import io
import re
import zipfile
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from docx.table import Table

__all__ = [
    "CorruptDocument",
    "Document",
    "DocumentError",
    "DocumentKind",
    "DocumentTooLarge",
    "NoTextInDocument",
    "UnsupportedDocument",
    "read_document",
]

MAX_BYTES = 20 * 1024 * 1024
MIN_PDF_CHARS_PER_PAGE = 20  # fewer non-space characters than this per page: a scan

_SUFFIX_KINDS = {
    ".txt": "text",
    ".text": "text",
    ".md": "markdown",
    ".markdown": "markdown",
    ".pdf": "pdf",
    ".docx": "docx",
}
_TYPE_KINDS = {
    "text/plain": "text",
    "text/markdown": "markdown",
    "text/x-markdown": "markdown",
    "application/pdf": "pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_HOW_TO_FIX = "Save it as PDF, DOCX, Markdown or plain text, or paste the text instead."


class DocumentKind(StrEnum):
    """What kind of file the text came from."""

    TEXT = "text"
    MARKDOWN = "markdown"
    PDF = "pdf"
    DOCX = "docx"


@dataclasses.dataclass(frozen=True)
class Document:
    """The readable text of an uploaded file and the kind of file it was."""

    text: str
    kind: DocumentKind


class DocumentError(ValueError):
    """A document could not be turned into text; the message says why and what to do."""


class UnsupportedDocument(DocumentError):
    """The file is of a kind that is not read (an image, a legacy ``.doc``, a spreadsheet...)."""


class CorruptDocument(DocumentError):
    """The file claims a supported kind but its contents are damaged or encrypted."""


class NoTextInDocument(DocumentError):
    """The file was read but holds no text (a scanned PDF, an empty file)."""


class DocumentTooLarge(DocumentError):
    """The file is larger than :data:`MAX_BYTES`."""


def read_document(
    data: bytes, filename: str | None = None, content_type: str | None = None
) -> Document:
    """The text of ``data`` (plain text, Markdown, PDF or DOCX) and its kind.

    ``filename`` and ``content_type`` (both optional) help tell text from Markdown and name
    the file in errors. Raises a :class:`DocumentError` subclass when the file cannot be read.
    """
    name = repr(filename) if filename else "the document"
    if len(data) > MAX_BYTES:
        raise DocumentTooLarge(
            f"{name} is {len(data) / 1_048_576:.1f} MB; at most {MAX_BYTES // 1_048_576} MB "
            "is read. Upload a shorter file or paste the text."
        )
    kind = _detect_kind(data, filename, content_type, name)
    if kind is DocumentKind.PDF:
        text = _pdf_text(data, name)
    elif kind is DocumentKind.DOCX:
        text = _docx_text(data, name)
    else:
        text = _decode_text(data, name)
        if kind is DocumentKind.MARKDOWN:
            text = _markdown_to_text(text)
    text = _tidy(text)
    if not text:
        raise NoTextInDocument(
            f"{name} holds no text. Upload the filled-in file or paste the text."
        )
    return Document(text=text, kind=kind)


def _detect_kind(
    data: bytes, filename: str | None, content_type: str | None, name: str
) -> DocumentKind:
    head = data[:1024].lstrip(b"\xef\xbb\xbf\r\n\t ")
    if head.startswith(b"%PDF-"):
        return DocumentKind.PDF
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data, name)
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise UnsupportedDocument(
            f"{name} is a legacy Word (.doc) or Excel (.xls) file, which is not read. "
            + _HOW_TO_FIX
        )
    for magic, what in _BINARY_MAGIC:
        if data.startswith(magic):
            raise UnsupportedDocument(
                f"{name} is {what}; text is not recognised in images (no OCR). " + _HOW_TO_FIX
            )
    if data.startswith(b"{\\rtf"):
        raise UnsupportedDocument(f"{name} is an RTF file, which is not read. " + _HOW_TO_FIX)
    declared = _declared_kind(filename, content_type)
    if declared in {"pdf", "docx"}:
        raise CorruptDocument(
            f"{name} is named or sent as {declared.upper()} but is not a valid {declared.upper()} "
            "file (it may be damaged or only partly uploaded). Export it again and re-upload it."
        )
    if declared is None and filename and "." in filename.rsplit("/", 1)[-1]:
        suffix = filename.rsplit(".", 1)[-1].lower()
        if suffix in _KNOWN_UNSUPPORTED:
            raise UnsupportedDocument(
                f"{name} is a .{suffix} file, which is not read. " + _HOW_TO_FIX
            )
    return DocumentKind(declared) if declared else DocumentKind.TEXT


_BINARY_MAGIC = (
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"II*\x00", "a TIFF image"),
    (b"MM\x00*", "a TIFF image"),
)
_KNOWN_UNSUPPORTED = {"doc", "xls", "xlsx", "ppt", "pptx", "odt", "rtf", "pages", "png", "jpg"}


def _declared_kind(filename: str | None, content_type: str | None) -> str | None:
    if filename:
        lowered = filename.lower()
        for suffix, kind in _SUFFIX_KINDS.items():
            if lowered.endswith(suffix):
                return kind
    if content_type:
        return _TYPE_KINDS.get(content_type.split(";", 1)[0].strip().lower())
    return None


def _zip_kind(data: bytes, name: str) -> DocumentKind:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as error:
        raise CorruptDocument(
            f"{name} looks like a DOCX (ZIP) file but cannot be opened ({error}). "
            "Export it again and re-upload it."
        ) from None
    if "word/document.xml" in names:
        return DocumentKind.DOCX
    if "content.xml" in names:
        raise UnsupportedDocument(
            f"{name} is an OpenDocument file, which is not read. " + _HOW_TO_FIX
        )
    if any(entry.startswith(("xl/", "ppt/")) for entry in names):
        raise UnsupportedDocument(
            f"{name} is a spreadsheet or presentation, which is not read. " + _HOW_TO_FIX
        )
    raise UnsupportedDocument(f"{name} is a ZIP archive, not a document. " + _HOW_TO_FIX)


def _decode_text(data: bytes, name: str) -> str:
    for bom, encoding in (
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            return data.decode(encoding, errors="replace")
    if b"\x00" in data[:4096]:
        raise UnsupportedDocument(f"{name} is a binary file, not text, PDF or DOCX. " + _HOW_TO_FIX)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        # Text from older Windows editors; every byte decodes, so nothing is lost silently.
        return data.decode("cp1252", errors="replace")


_MD_RULES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^```.*$|^~~~.*$", re.M), ""),  # code fences (keep the code)
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # images → alt text
    (re.compile(r"\[([^\]]+)\]\(([^)]*)\)"), r"\1 (\2)"),  # links → text (url)
    (re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$", re.M), r"\1"),  # headings
    (re.compile(r"^\s{0,3}>\s?", re.M), ""),  # block quotes
    (re.compile(r"^\s*([-*_])(\s*\1){2,}\s*$", re.M), ""),  # horizontal rules
    (re.compile(r"^(\s*)[*+]\s+", re.M), r"\1- "),  # bullets → "- "
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),  # bold
    (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"\1"),  # italic *x*
    (re.compile(r"(?<!\w)_(?!\s)(.+?)(?<!\s)_(?!\w)"), r"\1"),  # italic _x_
    (re.compile(r"`([^`]+)`"), r"\1"),  # inline code
    (re.compile(r"<[^>\n]+>"), ""),  # inline HTML tags
)


def _markdown_to_text(text: str) -> str:
    for pattern, replacement in _MD_RULES:
        text = pattern.sub(replacement, text)
    return text


def _pdf_text(data: bytes, name: str) -> str:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise CorruptDocument(
                f"{name} is password-protected. Remove the password (print or export it to a "
                "new PDF) and re-upload it."
            )
        pages = [page.extract_text() or "" for page in reader.pages]
    except CorruptDocument:
        raise
    except Exception as error:  # pypdf raises many kinds of error on damaged files
        if "crypt" in str(error).lower() or "AES" in str(error):
            raise CorruptDocument(
                f"{name} is encrypted in a way that cannot be read ({error}). Remove the "
                "password and re-upload it."
            ) from None
        raise CorruptDocument(
            f"{name} is not a readable PDF ({type(error).__name__}: {error}). Export it again "
            "and re-upload it, or paste the text."
        ) from None
    text = "\n\n".join(pages)
    visible = sum(1 for char in text if not char.isspace())
    if visible < MIN_PDF_CHARS_PER_PAGE * max(1, len(pages)):
        raise NoTextInDocument(
            f"{name} has {len(pages)} page(s) but almost no text ({visible} characters): it "
            "looks scanned (an image of text), and text is not recognised in images. Upload "
            "the original PDF or DOCX, or paste the text."
        )
    return text


def _docx_text(data: bytes, name: str) -> str:
    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table

    try:
        document = docx.Document(io.BytesIO(data))
        lines: list[str] = []
        for block in document.iter_inner_content():
            if isinstance(block, Table):
                lines.extend(_table_lines(block))
            else:
                lines.append(block.text)
    except PackageNotFoundError as error:
        raise CorruptDocument(
            f"{name} is not a readable DOCX file ({error}). Save it again from the word "
            "processor and re-upload it."
        ) from None
    except Exception as error:  # broken XML or a missing part inside the archive
        raise CorruptDocument(
            f"{name} is a damaged DOCX file ({type(error).__name__}: {error}). Save it again "
            "from the word processor and re-upload it."
        ) from None
    return "\n".join(lines)


def _table_lines(table: Table) -> list[str]:
    lines: list[str] = []
    for row in table.rows:
        cells: list[str] = []
        for cell in row.cells:
            nested = [line for inner in cell.tables for line in _table_lines(inner)]
            text = " ".join(part for part in (cell.text.strip(), *nested) if part)
            # A merged cell is returned once per grid column it spans: keep it once.
            if text and (not cells or cells[-1] != text):
                cells.append(text)
        if cells:
            lines.append(" | ".join(cells))
    return lines


def _tidy(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t\u00a0]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip()
