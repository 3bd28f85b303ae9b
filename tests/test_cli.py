import json

from pypdf import PdfReader

from service.cli import main

from .conftest import SAMPLES, sample


def test_every_command_has_an_example(runner):
    for command in ("serve", "render", "import", "fonts", "verify"):
        result = runner.invoke(main, [command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, command


def test_import_samples_then_render_by_id(runner, tmp_path):
    result = runner.invoke(main, ["import", "--samples"])
    assert result.exit_code == 0, result.output
    assert "3 created" in result.output
    again = runner.invoke(main, ["import", "--samples"])
    assert "3 unchanged" in again.output
    out = tmp_path / "a.pdf"
    result = runner.invoke(main, ["render", "kuwait-coalition-meeting", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert len(PdfReader(out).pages) >= 1


def test_render_json_file_to_stdout(runner):
    result = runner.invoke(main, ["render", str(SAMPLES / "nova-digital-archive-platform.json"),
                                  "-o", "-"])
    assert result.exit_code == 0
    assert result.stdout_bytes.startswith(b"%PDF-")


def test_render_unknown_id_fails_cleanly(runner):
    result = runner.invoke(main, ["render", "nope", "-o", "-"])
    assert result.exit_code == 1 and "no article with id 'nope'" in result.output


def test_import_jsonl_is_all_or_nothing(runner, tmp_path, app):
    good = sample("kuwait-coalition-meeting")
    path = tmp_path / "batch.jsonl"
    path.write_text(json.dumps(good, ensure_ascii=False) + "\n" + json.dumps({"id": "bad"}) + "\n",
                    encoding="utf-8")
    result = runner.invoke(main, ["import", str(path)])
    assert result.exit_code == 1 and "batch.jsonl:2" in result.output and "title" in result.output
    assert app.extensions["matbaa.store"].list()[1] == 0


def test_import_the_corpus_as_it_is(runner, shared_dir, app):
    """The 304 real articles import as they are: their day-first dates too."""
    result = runner.invoke(main, ["import", str(shared_dir / "corpus" / "articles.jsonl")])
    assert result.exit_code == 0, result.output
    assert "304 created" in result.output
    store = app.extensions["matbaa.store"]
    assert store.list()[1] == 304
    day_first = store.get("JA-culture-101-20150517")       # written 17/05/2015
    assert day_first.published_at.date().isoformat() == "2015-05-17"
    assert day_first.site == "Jawhara FM"                     # its "source"


def test_fonts_reports_coverage_and_missing_characters(runner, tmp_path):
    result = runner.invoke(main, ["fonts"])
    assert result.exit_code == 0 and "Arabic letters: covered" in result.output
    text = tmp_path / "t.txt"
    text.write_text("الكويت ሰ", encoding="utf-8")
    result = runner.invoke(main, ["fonts", "--text", str(text)])
    assert result.exit_code == 1
    assert "U+1230 ETHIOPIC SYLLABLE SA" in result.output
