"""Readers: a PDF's text layer as each viewer and indexer people use reads it.

- poppler: ``pdftotext`` (Evince, Okular, many Linux tools);
- pdfium: PDFium, Chrome's and Edge's viewer (``pypdfium2``, a test dependency);
- mupdf: ``mutool draw -F txt`` (Debian 12's MuPDF 1.21);
- pymupdf: current MuPDF through PyMuPDF's ``get_text`` (SumatraPDF, the MuPDF
  viewers; a test dependency);
- pdfjs: pdf.js, Firefox's viewer (node and ``tools/pdfjs``);
- pdfbox: Apache PDFBox's ``PDFTextStripper`` (Apache Tika, which Solr and
  Elasticsearch index with; Debian's libpdfbox2-java, run by ``tools/pdfbox``).

Each gives the text of the whole document; ``unavailable(name)`` says why a reader
cannot be used here (what to install), or None.
"""

import importlib.util
import shutil
import subprocess
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent / "tools"
PDFJS_SCRIPT = TOOLS / "pdfjs" / "extract.mjs"
PDFBOX_SOURCE = TOOLS / "pdfbox" / "ExtractText.java"
# Debian's jars for PDFBox 2 (libpdfbox2-java and what it depends on).
PDFBOX_JARS = ("/usr/share/java/pdfbox2.jar", "/usr/share/java/fontbox2.jar",
               "/usr/share/java/commons-logging.jar")
READERS = ("poppler", "pdfium", "mupdf", "pymupdf", "pdfjs", "pdfbox")


class ReaderError(RuntimeError):
    """A reader is not installed, or failed on the PDF."""


def unavailable(name):
    """Why reader ``name`` cannot be used here, or None when it can."""
    if name == "poppler":
        return None if shutil.which("pdftotext") else \
            "pdftotext is not installed (Debian package poppler-utils)"
    if name == "pdfium":
        return None if importlib.util.find_spec("pypdfium2") else \
            "pypdfium2 is not installed (pip install -e '.[test]')"
    if name == "pymupdf":
        return None if importlib.util.find_spec("pymupdf") else \
            "PyMuPDF is not installed (pip install -e '.[test]')"
    if name == "mupdf":
        return None if shutil.which("mutool") else \
            "mutool is not installed (Debian package mupdf-tools)"
    if name == "pdfjs":
        if not shutil.which("node"):
            return "node is not installed (Debian packages nodejs, npm)"
        return None if (PDFJS_SCRIPT.parent / "node_modules").is_dir() else \
            "pdf.js is not set up: `npm ci` in tools/pdfjs"
    if name == "pdfbox":
        if not shutil.which("java"):
            return "java is not installed (Debian package default-jdk-headless)"
        missing = [jar for jar in PDFBOX_JARS if not Path(jar).is_file()]
        return f"PDFBox is not installed (Debian package libpdfbox2-java): {missing}" \
            if missing else None
    raise ValueError(f"unknown reader {name!r}; one of {', '.join(READERS)}")


def read(name, pdf_path, first=None, last=None):
    """The text of ``pdf_path`` (pages ``first``..``last``, from 1) as ``name`` reads it."""
    reason = unavailable(name)
    if reason:
        raise ReaderError(reason)
    pdf_path = str(pdf_path)
    if name == "pdfium":
        return _pdfium(pdf_path, first, last)
    if name == "pymupdf":
        return _pymupdf(pdf_path, first, last)
    pages = [str(first or 1), str(last or first or 1)] if (first or last) else None
    if name == "poppler":
        command = ["pdftotext", "-enc", "UTF-8",
                   *(["-f", pages[0], "-l", pages[1]] if pages else []), pdf_path, "-"]
    elif name == "mupdf":
        command = ["mutool", "draw", "-q", "-F", "txt", "-o", "-", pdf_path,
                   *([f"{pages[0]}-{pages[1]}"] if pages else [])]
    elif name == "pdfjs":
        command = ["node", str(PDFJS_SCRIPT), pdf_path, *(pages or [])]
    else:
        command = ["java", "-Djava.awt.headless=true", "-cp", ":".join(PDFBOX_JARS),
                   str(PDFBOX_SOURCE), pdf_path, *(pages or [])]
    result = subprocess.run(command, capture_output=True, timeout=300)
    if result.returncode != 0:
        raise ReaderError(f"{name} failed: {result.stderr.decode(errors='replace')[-300:]}")
    return result.stdout.decode("utf-8", errors="replace")


def _pdfium(pdf_path, first, last):
    import pypdfium2

    document = pypdfium2.PdfDocument(pdf_path)
    try:
        numbers = range((first or 1) - 1, last or first or len(document)) \
            if (first or last) else range(len(document))
        texts = []
        for number in numbers:
            page = document[number]
            text_page = page.get_textpage()
            texts.append(text_page.get_text_range())
            text_page.close()
            page.close()
        return "\n".join(texts)
    finally:
        document.close()


def _pymupdf(pdf_path, first, last):
    import pymupdf

    with pymupdf.open(pdf_path) as document:
        numbers = range((first or 1) - 1, last or first or document.page_count) \
            if (first or last) else range(document.page_count)
        return "\n".join(document[number].get_text() for number in numbers)
