import json
import shutil

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
    import importlib.util
    import unicodedata

    from fontTools.ttLib import TTFont

    spec = importlib.util.spec_from_file_location("build", settings.fonts_dir / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)
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
