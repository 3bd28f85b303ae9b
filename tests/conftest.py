import json
import logging
import os
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.app import create_app
from service.article import parse_article
from service.settings import Settings

SAMPLES = Path(__file__).resolve().parent.parent / "service" / "samples"
RESOURCES = Path(__file__).resolve().parent / "resources"


def sample(name):
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def unavailable(reason):
    """Something a test needs is absent: skip here, but fail in CI, where it must be."""
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def settings(tmp_path):
    return Settings.from_env(data_dir=tmp_path / "data")


@pytest.fixture
def app(settings):
    app = create_app(settings)
    yield app
    runner = app.extensions.get("matbaa.job_runner")   # started by POST /editions
    if runner is not None:
        runner.close()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    return app.extensions["matbaa.store"]


@pytest.fixture
def renderer(app):
    return app.extensions["matbaa.renderer"]


@pytest.fixture
def loaded_store(store):
    for name in ("kuwait-coalition-meeting", "arabic-printing-history",
                 "nova-digital-archive-platform"):
        store.upsert(parse_article(sample(name)))
    return store


@pytest.fixture
def runner(settings, monkeypatch):
    # The CLI reads its settings from the environment, like a user's shell.
    monkeypatch.setenv("MATBAA_DATA_DIR", str(settings.data_dir))
    return CliRunner()


@pytest.fixture(autouse=True)
def no_weasyprint_warnings(caplog):
    """A render that makes WeasyPrint warn (missing font, refused URL, bad CSS) fails."""
    caplog.set_level(logging.WARNING, logger="weasyprint")
    yield
    warnings = [r for r in caplog.records
                if r.name.startswith("weasyprint") and r.levelno >= logging.WARNING
                and not getattr(r, "expected", False)]
    assert not warnings, [r.getMessage() for r in warnings]


@pytest.fixture
def shared_dir(settings):
    """The read-only corpus; skipped when absent, but a failure in CI."""
    folder = settings.shared_dir
    if not folder.is_dir():
        unavailable(f"corpus folder {folder} is absent (set MATBAA_SHARED_DIR)")
    return folder


def pdftotext(pdf_bytes, tmp_path, *args):
    path = tmp_path / "out.pdf"
    path.write_bytes(pdf_bytes)
    return subprocess.run(["pdftotext", "-enc", "UTF-8", *args, str(path), "-"],
                          check=True, capture_output=True).stdout.decode()


def pdffonts(pdf_bytes, tmp_path):
    """Rows of `pdffonts`: dicts with name, type, emb, sub, uni."""
    path = tmp_path / "fonts.pdf"
    path.write_bytes(pdf_bytes)
    out = subprocess.run(["pdffonts", str(path)], check=True, capture_output=True,
                         text=True).stdout.splitlines()
    rows = []
    for line in out[2:]:
        parts = line.split()
        # name, type (one or more words), encoding, emb, sub, uni, object, id
        rows.append({"name": parts[0], "emb": parts[-5], "sub": parts[-4], "uni": parts[-3]})
    return rows


@pytest.fixture(scope="session")
def wordpress_site(tmp_path_factory):
    """A real WordPress (Debian's package, MariaDB, php -S) for the whole session."""
    from PIL import Image

    from .wordpress_site import WordPressSite, missing_reason

    reason = missing_reason()
    if reason:
        unavailable(reason)
    folder = tmp_path_factory.mktemp("wordpress")
    lead = folder / "lead.png"
    # A picture with a clear colour, to find it again in the PDF's pixels.
    Image.new("RGB", (640, 360), (20, 90, 170)).save(lead)
    site = WordPressSite(folder)
    try:
        site.start(lead)
        yield site
    finally:
        site.stop()
