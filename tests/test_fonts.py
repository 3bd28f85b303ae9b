import json
import shutil
import unicodedata

import pytest

from service.fonts import FontError, FontSet


@pytest.fixture
def fonts(settings):
    return FontSet(settings.fonts_dir)


def test_bundled_fonts_pass_the_start_up_check(fonts):
    report = fonts.check()
    assert all(gaps == "" for gaps in report.values()), report
    roles = {face.role for face in fonts.faces}
    assert roles == {"body", "heading", "latin"}


def test_manifest_records_origin_and_licence(fonts, settings):
    manifest = json.loads((settings.fonts_dir / "manifest.json").read_text())
    for entry in manifest["fonts"]:
        assert entry["licence"] == "OFL-1.1" and entry["origin"] and entry["version"]
    assert (settings.fonts_dir / "OFL.txt").read_text().startswith("SIL Open Font License")


def test_altered_font_is_refused(settings, tmp_path):
    folder = tmp_path / "fonts"
    shutil.copytree(settings.fonts_dir, folder)
    target = folder / "MatbaaNaskh-Regular.ttf"
    target.write_bytes(target.read_bytes() + b"\0")
    with pytest.raises(FontError, match="sha256"):
        FontSet(folder).check()


def test_missing_characters_are_named(fonts):
    assert fonts.missing("الكويت Kuwait ١٢٣ 123 «» “” ٪ %") == []
    assert fonts.missing("كلمة ሰላም 😀") == sorted("ሰላም😀")
    # Controls and bidi marks are never drawn, so they are never missing.
    assert fonts.missing("\u200f\u200e\u202b\n\t") == []


def test_font_face_rules_use_only_bundled_files(fonts):
    css = fonts.font_face_css("https://assets.example/fonts/")
    assert css.count("@font-face") == len(fonts.faces)
    assert "local(" not in css


def test_every_neutral_glyph_has_a_left_to_right_twin(settings):
    """What a space or punctuation mark may be drawn with, after any substitution,
    has a twin for left-to-right runs (the text layer gives each glyph one direction)."""
    import unicodedata

    from fontTools.ttLib import TTFont

    from service import fontprep as build
    for path in sorted(settings.fonts_dir.glob("*.ttf")):
        font = TTFont(path)
        gsub = font["GSUB"].table
        [record] = [r for r in gsub.FeatureList.FeatureRecord if r.FeatureTag == "ltra"]
        [subtable] = gsub.LookupList.Lookup[record.Feature.LookupListIndex[0]].SubTable
        twins = subtable.mapping
        neutral = {name for codepoint, name in font.getBestCmap().items()
                   if unicodedata.bidirectional(chr(codepoint)) in build.NEUTRAL_BIDI}
        reached = neutral | build.single_substitution_closure(font, neutral)
        assert not reached - set(twins) - set(twins.values()), path.name


# -- a newsroom's own fonts: matbaa fonts add --------------------------------------------

AMIRI = "/usr/share/fonts/opentype/fonts-hosny-amiri"     # Debian fonts-hosny-amiri
KACST = "/usr/share/fonts/truetype/kacst-one"             # Debian fonts-kacst-one


def _need(folder, package):
    from pathlib import Path

    from .conftest import unavailable

    if not Path(folder).is_dir():
        unavailable(f"{folder} is missing: Debian package {package} (scripts/dev installs it)")


@pytest.fixture
def own_fonts(settings, tmp_path, monkeypatch):
    """A copy of our fonts folder that `matbaa fonts add` may add to."""
    folder = tmp_path / "fonts"
    shutil.copytree(settings.fonts_dir, folder)
    monkeypatch.setenv("MATBAA_FONTS_DIR", str(folder))
    return folder


def embedded_families(pdf):
    """The family names (name ID 1) of the font programs embedded in ``pdf``."""
    import io

    import pikepdf
    from fontTools.ttLib import TTFont

    found = set()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for obj in document.objects:
            if isinstance(obj, pikepdf.Dictionary) and "/FontFile2" in obj:
                program = TTFont(io.BytesIO(obj.FontFile2.read_bytes()))
                found.add(program["name"].getDebugName(1))
    return found


def render_seed(tmp_path, folder, **brand):
    from service.app import create_app
    from service.settings import Settings

    from .conftest import sample

    app = create_app(Settings.from_env(data_dir=tmp_path / "data", fonts_dir=folder, **brand))
    article = sample("kuwait-coalition-meeting")
    return app.test_client().post("/render", json=article).data, article


def test_fonts_add_prepares_amiri_for_the_body(runner, own_fonts, tmp_path):
    from service.article import parse_article
    from service.cli import main
    from service.verify import article_text, missing_numbers

    from .conftest import pdftotext

    _need(AMIRI, "fonts-hosny-amiri")
    for name in ("Amiri-Regular.ttf", "Amiri-Bold.ttf"):
        result = runner.invoke(main, ["fonts", "add", f"{AMIRI}/{name}"])
        assert result.exit_code == 0, result.output
    assert "MATBAA_BRAND_BODY_FONT='Amiri'" in result.output
    assert "text layer of a sample article with it: poppler reads" in result.output
    font_set = FontSet(own_fonts)
    font_set.check()                                  # hashes and coverage hold
    added = [face for face in font_set.faces if face.family == "Amiri"]
    assert sorted(face.weight for face in added) == [400, 700]
    for face in added:
        assert face.role == "body" and font_set.mark_twins[face.sha256]
        assert set(font_set.text_glyphs[face.sha256]) == {"space", "rlm"}

    pdf, article = render_seed(tmp_path, own_fonts, brand_body_font="Amiri")
    families = embedded_families(pdf)
    assert "Amiri" in families and "Noto Naskh Arabic" not in families, families
    # Its numbers read back as written (its words: the tests below).
    expected = article_text(parse_article(article))
    assert missing_numbers(expected, pdftotext(pdf, tmp_path)) == []


def add_amiri(runner, folder):
    from service.cli import main

    _need(AMIRI, "fonts-hosny-amiri")
    for name in ("Amiri-Regular.ttf", "Amiri-Bold.ttf"):
        result = runner.invoke(main, ["fonts", "add", f"{AMIRI}/{name}"],
                               env={"MATBAA_FONTS_DIR": str(folder)})
        assert result.exit_code == 0, result.output


def render_words(tmp_path, folder, text, name="words"):
    """``words`` as an article's title, a heading and a paragraph, in Amiri: the PDF's
    path and its words in each reader (as the corpus test compares them)."""
    from service.app import create_app
    from service.readers import read
    from service.settings import Settings
    from service.verify import words

    app = create_app(Settings.from_env(data_dir=tmp_path / f"data-{name}", fonts_dir=folder,
                                       brand_body_font="Amiri", brand_headings_font="Amiri"))
    answer = app.test_client().post("/render", json={
        "id": name, "title": text, "body_html": f"<h2>{text}</h2><p>{text}</p>"})
    assert answer.status_code == 200, answer.data[:300]
    assert "Amiri" in embedded_families(answer.data)
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(answer.data)
    texts = {reader: read(reader, path) for reader in ("poppler", "pdfium", "pdfbox", "pymupdf")}
    for reader, text in texts.items():
        # No stray letters or signs: PDFium reads a glyph without text as its number.
        stray = [c for c in text if unicodedata.category(c) in {"Lo", "Lm", "So"}
                 and not unicodedata.name(c, "").startswith(("ARABIC", "LATIN"))]
        assert not stray, (reader, stray)
    return path, {reader: words(text) for reader, text in texts.items()}


def test_amiris_raised_letters_keep_their_text_in_every_line(runner, own_fonts, tmp_path):
    """Amiri raises a letter before hah and jeem by a hair («مجلس», «محصورا», «وأوضح»).
    Such a glyph was drawn hidden from extractors, as a raised mark is: poppler and
    MuPDF lost the letter in titles and headings.  Within a tenth of an em it stays
    on the line, with its text."""
    add_amiri(runner, own_fonts)
    words = "مجلس محصورا وأوضح التسامح"
    _path, texts = render_words(tmp_path, own_fonts, words)
    for reader, text in texts.items():
        # The title, the heading and the paragraph.
        assert [text.count(word) for word in words.split()] == [3] * 4, (reader, text)


def test_amiris_shifted_and_pieced_letters_read_once_and_print_the_same(runner, own_fonts,
                                                                        tmp_path):
    """Amiri shifts waw and reh sideways before yeh, and their advance with them: poppler
    read the gap as a space («تمو يل»).  It draws lam before kaf in two glyphs, each
    with the lam's text: «اللكويت».  `fonts add` gives each letter it shifts an
    invisible twin of its widest advance, drawn at the pen with its text, and each
    letter drawn in pieces one invisible glyph for them all; the letters themselves are
    drawn hidden from extractors.  The pages print the same."""
    add_amiri(runner, own_fonts)
    manifest = json.loads((own_fonts / "manifest.json").read_text(encoding="utf-8"))
    added = [f for f in manifest["fonts"] if f["family"] == "Amiri"]
    assert all(len(f["shift_twins"]) > 10 and f["piece_twins"] for f in added)
    words = "تمويل الجارية السماوية الكويت لكن"
    path, texts = render_words(tmp_path, own_fonts, words)
    for reader, text in texts.items():
        assert [text.count(word) for word in words.split()] == [3] * 5, (reader, text)
    # The same fonts without their twins named: what was printed before, pixel for pixel.
    before = tmp_path / "before"
    shutil.copytree(own_fonts, before)
    for entry in added:
        entry.pop("shift_twins")
        entry.pop("piece_twins")
    (before / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    old_path, old_texts = render_words(tmp_path, before, words, name="before")
    # The gap and the lam twice, without the twins.
    assert old_texts["poppler"].count("تمويل") < 3 and old_texts["poppler"].count("الكويت") < 3
    assert same_within_a_pixel(path, old_path)


def test_fonts_add_shapes_the_stored_articles_words(runner, own_fonts, settings, tmp_path):
    """Some of Amiri's forms depend on more than the next letter: khah drawn in two
    pieces in «الخبراء» (poppler read «ال خبراء», PDFium a stray Gurmukhi sign for the
    piece without text).  `fonts add` shapes the words of the stored articles too, and
    then those read back in every reader; added before the article was stored, not."""
    from service.article import parse_article
    from service.store import Store

    words = "الخبراء المحترفة"
    before = tmp_path / "before"
    shutil.copytree(own_fonts, before)
    add_amiri(runner, before)          # nothing stored yet
    store = Store(settings.store_url)
    store.upsert(parse_article({"id": "stored", "title": "مقال", "body_html": f"<p>{words}</p>"}))
    store.close()
    add_amiri(runner, own_fonts)
    _path, texts = render_words(tmp_path, own_fonts, words)
    for reader, text in texts.items():
        assert [text.count(word) for word in words.split()] == [3] * 2, (reader, text)
    _path, texts = render_words(tmp_path, before, words, name="before")
    assert any(text.count(word) != 3 for text in texts.values() for word in words.split())


def same_within_a_pixel(one, other):
    """Whether two one-page PDFs print the same at 300 dpi, but for glyphs moved by less
    than a pixel (the hidden letters are placed from Pango's exact pen, WeasyPrint's from
    its rounded kerning: a few hundredths of a point apart): each pixel's grey lies
    within those of its eight neighbours in the other page, and the other way round."""
    import io
    import subprocess

    import numpy
    from PIL import Image

    pages = [numpy.asarray(Image.open(io.BytesIO(subprocess.run(
        ["pdftoppm", "-r", "300", "-gray", "-singlefile", str(pdf)],
        check=True, capture_output=True).stdout)), dtype=int) for pdf in (one, other)]
    for a, b in (pages, pages[::-1]):
        near = numpy.stack([numpy.roll(b, (down, across), axis=(0, 1))
                            for down in (-1, 0, 1) for across in (-1, 0, 1)])
        if not ((a >= near.min(axis=0) - 4) & (a <= near.max(axis=0) + 4)).all():
            return False
    return True


def test_a_sans_family_for_the_headings_keeps_the_text_layer_exact(runner, own_fonts,
                                                                    tmp_path):
    from service.article import parse_article
    from service.cli import main
    from service.verify import article_text, missing_numbers, score_words

    from .conftest import pdftotext

    _need(KACST, "fonts-kacst-one")
    for name in ("KacstOne.ttf", "KacstOne-Bold.ttf"):
        result = runner.invoke(main, ["fonts", "add", f"{KACST}/{name}", "--role", "headings"])
        assert result.exit_code == 0, result.output
    assert "poppler reads 100.0%" in result.output and "warning" not in result.output
    pdf, article = render_seed(tmp_path, own_fonts, brand_headings_font="KacstOne")
    assert "KacstOne" in embedded_families(pdf)
    expected, text = article_text(parse_article(article)), pdftotext(pdf, tmp_path)
    assert score_words(expected, text).ratio >= 0.995
    assert missing_numbers(expected, text) == []


def test_fonts_add_refuses_what_it_may_not_or_cannot_print(runner, own_fonts, tmp_path):
    from fontTools.ttLib import TTFont

    from service.cli import main

    _need(KACST, "fonts-kacst-one")
    restricted = TTFont(f"{KACST}/KacstOne.ttf")
    restricted["OS/2"].fsType = 0x0002
    restricted.save(tmp_path / "Restricted.ttf")
    result = runner.invoke(main, ["fonts", "add", str(tmp_path / "Restricted.ttf")])
    assert result.exit_code != 0 and "licence forbids embedding" in result.output
    latin_only = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
    result = runner.invoke(main, ["fonts", "add", latin_only, "--role", "body"])
    assert result.exit_code != 0 and "has no Arabic letters" in result.output
    manifest = json.loads((own_fonts / "manifest.json").read_text(encoding="utf-8"))
    assert len(manifest["fonts"]) == 9                # nothing was added


def test_a_brand_font_that_is_not_there_is_refused_at_start(own_fonts, tmp_path):
    from service.app import create_app
    from service.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="MATBAA_BRAND_BODY_FONT.*matbaa fonts add"):
        create_app(Settings.from_env(data_dir=tmp_path / "data", fonts_dir=own_fonts,
                                     brand_body_font="Amiri"))
