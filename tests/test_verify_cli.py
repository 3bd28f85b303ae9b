"""`matbaa verify` on PDFs that read back right, and on ones that do not."""

import json
import subprocess
import sys

import pytest

from service.cli import main
from service.readers import unavailable

from .conftest import SAMPLES


@pytest.fixture
def seed_pdf(runner, tmp_path):
    out = tmp_path / "seed.pdf"
    result = runner.invoke(main, ["render", str(SAMPLES / "kuwait-coalition-meeting.json"),
                                  "-o", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_good_pdf_passes(runner, seed_pdf):
    result = runner.invoke(main, ["verify", str(seed_pdf), "--article",
                                  str(SAMPLES / "kuwait-coalition-meeting.json"), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    poppler = report["readers"]["poppler"]
    assert poppler["ratio"] == 1.0 and poppler["letters_dropped"] == 0
    assert poppler["numbers_lost"] == []
    assert report["missing_glyphs"] == [] and report["notdef"] == 0


def test_pdf_of_another_article_fails(runner, seed_pdf):
    result = runner.invoke(main, ["verify", str(seed_pdf), "--article",
                                  str(SAMPLES / "nova-digital-archive-platform.json")])
    assert result.exit_code == 1


def test_plain_weasyprint_pdf_fails(runner, renderer, tmp_path):
    """The same print HTML through WeasyPrint without our text layer: «الله» comes back
    reversed and tanween breaks lines, and verify says so."""
    from service.article import parse_article

    article = parse_article(json.loads((SAMPLES / "kuwait-coalition-meeting.json").read_text()))
    html, css = tmp_path / "seed.html", tmp_path / "seed.css"
    html.write_text(renderer.html(article), encoding="utf-8")
    css.write_text(renderer.fonts.font_face_css(renderer.fonts.folder.as_uri() + "/")
                   + renderer.templates.stylesheet, encoding="utf-8")
    # A separate process: this one's WeasyPrint carries our hooks.
    plain = tmp_path / "plain.pdf"
    subprocess.run([sys.executable, "-c",
                    "import sys, weasyprint; weasyprint.HTML(filename=sys.argv[1]).write_pdf("
                    "sys.argv[3], stylesheets=[weasyprint.CSS(filename=sys.argv[2])])",
                    str(html), str(css), str(plain)], check=True, capture_output=True)
    result = runner.invoke(main, ["verify", str(plain), "--article",
                                  str(SAMPLES / "kuwait-coalition-meeting.json"), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["readers"]["poppler"]["ratio"] < 0.95
    assert "العبدالله" in report["readers"]["poppler"]["missing"]


@pytest.mark.parametrize("reader", ["poppler", "pdfium", "mupdf", "pymupdf", "pdfjs", "pdfbox"])
def test_every_reader_reads_the_words(runner, seed_pdf, reader):
    """Each reader is installed (scripts/dev) and reads the seed article's words; how
    many come back in order is measured in bench/readers.py (issue #25)."""
    if reason := unavailable(reader):
        from .conftest import unavailable as missing

        missing(reason)
    result = runner.invoke(main, ["verify", str(seed_pdf), "--article",
                                  str(SAMPLES / "kuwait-coalition-meeting.json"), "--json",
                                  "--reader", reader])
    assert result.exception is None or result.exit_code in (0, 1), result.output
    score = json.loads(result.output)["readers"][reader]
    assert score["expected_words"] > 100
    assert len(score["missing"]) <= score["expected_words"] * 0.2, score["missing"]
