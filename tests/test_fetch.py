import pytest

from service.fetch import ASSET_ORIGIN, Fetcher, FetchRefused


@pytest.fixture
def fetcher(settings):
    return Fetcher({"fonts": settings.fonts_dir, "print": settings.templates_dir / "print"})


def test_serves_bundled_fonts_and_stylesheet(fetcher):
    font = fetcher.fetch(f"{ASSET_ORIGIN}fonts/MatbaaNaskh-Regular.ttf")
    assert font.read()[:4] == b"\x00\x01\x00\x00"
    css = fetcher.fetch(f"{ASSET_ORIGIN}print/print.css")
    assert b"@page" in css.read()


def test_serves_data_urls(fetcher):
    assert fetcher.fetch("data:text/plain;base64,2YXYsdit2KjYpw==").read().decode() == "مرحبا"


@pytest.mark.parametrize("url", [
    "file:///etc/passwd", "http://127.0.0.1:8000/", "https://example.com/x.png",
    "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
    f"{ASSET_ORIGIN}fonts/../../../etc/passwd", f"{ASSET_ORIGIN}fonts/%2e%2e/manifest.json",
    f"{ASSET_ORIGIN}etc/passwd", f"{ASSET_ORIGIN}print/../../pyproject.toml",
    "ftp://example.com/x",
])
def test_refuses_everything_else(fetcher, url):
    with pytest.raises(FetchRefused):
        fetcher.fetch(url)


def test_hostile_article_cannot_read_local_files(renderer, tmp_path):
    from service.article import parse_article

    from .conftest import pdftotext

    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CANARY")
    article = parse_article({"id": "h", "title": "عنوان", "body_html": (
        f'<p>نص</p><img src="file://{secret}"><link rel="stylesheet" href="file://{secret}">'
        f'<p style="background: url(file://{secret})">x</p>'
        f'<object data="file://{secret}"></object><iframe src="file://{secret}"></iframe>')})
    pdf = renderer.pdf(article).pdf
    assert "TOP-SECRET-CANARY" not in pdftotext(pdf, tmp_path)
    assert b"TOP-SECRET-CANARY" not in pdf
