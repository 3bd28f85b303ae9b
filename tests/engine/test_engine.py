"""The engine room (service/engine): every mend declared, checked, installed whole."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from service import engine

ROOT = Path(__file__).resolve().parent.parent.parent


def test_weasyprint_is_the_version_the_mends_were_made_from():
    import weasyprint

    assert weasyprint.__version__ == engine.WEASYPRINT_VERSION, (
        f"WeasyPrint {weasyprint.__version__} is installed, but service/engine's mends were "
        f"written for and checked with WeasyPrint {engine.WEASYPRINT_VERSION}: install that "
        "version, or port each mend and run WeasyPrint's own suite with them "
        "(tests/engine/test_weasyprint_suite.py) before raising WEASYPRINT_VERSION")
    pinned = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert f"weasyprint=={engine.WEASYPRINT_VERSION}" in pinned


def test_version_lists_every_mend_all_active(client):
    listed = client.get("/version").get_json()["mends"]
    assert [m["name"] for m in listed] == [m.name for m in engine.mends()]
    assert len(listed) == 10
    assert all(m["active"] for m in listed), listed
    assert all(m["why"] and m["needed_for"] in ("correctness", "speed") for m in listed)
    assert client.get("/health").get_json()["checks"]["engine"] == {"ok": True, "inactive": []}


def test_every_mend_names_its_section_of_upstream_md():
    text = (ROOT / "docs" / "upstream.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
               for heading in re.findall(r"^## (.+)$", text, re.MULTILINE)}
    for mend in engine.mends():
        assert mend.upstream in anchors, (mend.name, mend.upstream)
        for target in mend.replaces:
            engine.resolve(target)          # each target exists in this WeasyPrint


def test_another_weasyprint_refuses_every_mend_and_health_says_so(app, client):
    renderer = app.extensions["matbaa.renderer"]
    try:
        renderer.mends = engine.install(renderer.fonts, version="71.0")
        assert not any(m["active"] for m in renderer.mends)
        assert all("written for WeasyPrint 70.0, found 71.0" in m["why"]
                   for m in renderer.mends)
        health = client.get("/health")
        assert health.status_code == 503
        inactive = health.get_json()["checks"]["engine"]["inactive"]
        assert {"text-layer", "joining", "svg-text"} <= {m["name"] for m in inactive}
    finally:
        renderer.mends = engine.install(renderer.fonts)
    assert client.get("/health").status_code == 200


def test_a_speed_mend_inactive_is_reported_not_fatal(app, client):
    renderer = app.extensions["matbaa.renderer"]
    renderer.mends = [dict(m, active=False, why="refused in a test")
                      if m["name"] == "page-styles" else m for m in renderer.mends]
    health = client.get("/health")
    assert health.status_code == 200
    assert health.get_json()["checks"]["engine"]["inactive"][0]["name"] == "page-styles"


def test_a_mend_is_checked_before_anything_is_replaced():
    prepared = []
    missing = engine.Mend("test-missing", engine.SPEED,
                          ("weasyprint.layout.inline.get_next_linebox",
                           "weasyprint.layout.inline.no_such_function"),
                          "a test", "x", lambda context: prepared.append(1), lambda: False)
    with pytest.raises(engine.Refused, match="no_such_function does not exist"):
        engine._install(missing, engine.Context(), engine.WEASYPRINT_VERSION)
    assert prepared == []           # nothing prepared, nothing replaced

    def refuses(context):
        raise engine.Refused("source changed shape")

    shape = engine.Mend("test-shape", engine.SPEED, ("weasyprint.layout.inline",), "a test",
                        "x", refuses, lambda: False)
    with pytest.raises(engine.Refused, match="changed shape"):
        engine._install(shape, engine.Context(), engine.WEASYPRINT_VERSION)
    needs = engine.Mend("test-needs", engine.SPEED, (), "a test", "x",
                        lambda context: prepared.append(2), lambda: False,
                        requires=("no-such-mend",))
    with pytest.raises(engine.Refused, match="needs mend 'no-such-mend'"):
        engine._install(needs, engine.Context(), engine.WEASYPRINT_VERSION)
    assert prepared == []


CHECK = r"""
import importlib, pkgutil, subprocess, sys, tempfile
import service
for module in pkgutil.walk_packages(service.__path__, "service."):
    importlib.import_module(module.name)
loaded = [m for m in sys.modules if m.split(".")[0] in ("weasyprint", "pydyf")]
assert not loaded, loaded
from service.article import parse_article
from service.render import Renderer
from service.settings import Settings
renderer = Renderer(Settings.from_env(data_dir=tempfile.mkdtemp()))
result = renderer.pdf(parse_article({"id": "t", "title": "t", "body_html": "<p>نص Ж</p>"}))
assert result.missing_glyphs == ("Ж",), result.missing_glyphs
path = tempfile.mktemp(suffix=".pdf")
open(path, "wb").write(result.pdf)
fonts = subprocess.run(["pdffonts", path], capture_output=True, text=True).stdout
assert "DejaVu" not in fonts and "Matbaa" in fonts, fonts
print("isolated")
"""


def test_no_import_order_trap():
    """Importing every module of the service first imports no WeasyPrint, so the renderer
    still points fontconfig at our fonts alone: a Cyrillic letter, which only a system
    font (DejaVu) has, is reported missing and no system font is embedded."""
    done = subprocess.run([sys.executable, "-c", CHECK], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.stdout.strip().endswith("isolated"), done.stderr[-2000:]
