"""Remote images: fetched from allowed hosts only, public addresses only, within limits."""

import base64
import http.server
import io
import threading

import pytest
from pypdf import PdfReader

from service.article import parse_article
from service.fetch import Fetcher, FetchRefused, ImagePolicy

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAFklEQVR4nGP8z8DAwMDAxMDAwMDAAAANHQEDasKb6QAAAABJRU5ErkJggg==")


class Handler(http.server.BaseHTTPRequestHandler):
    hits = []

    def do_GET(self):
        self.hits.append(self.path)
        routes = {
            "/ok.png": (200, "image/png", PNG),
            "/big.png": (200, "image/png", PNG + b"\0" * 5000),
            "/page.html": (200, "text/html", b"<html></html>"),
            "/missing.png": (404, "text/plain", b"no"),
        }
        if self.path == "/redirect-in":
            self.send_response(302)
            self.send_header("Location", "/ok.png")
            self.end_headers()
            return
        if self.path == "/redirect-out":
            self.send_response(302)
            self.send_header("Location", "http://metadata.internal.example/latest")
            self.end_headers()
            return
        status, content_type, body = routes.get(self.path.split("?")[0], (404, "text/plain", b""))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def image_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def fetcher(allow_loopback=True, max_bytes=1000):
    return Fetcher({}, ImagePolicy(["127.0.0.1"], max_bytes=max_bytes, timeout=3,
                                   allow_loopback=allow_loopback))


def test_allowed_image_is_fetched(image_server):
    response = fetcher().fetch(f"{image_server}/ok.png")
    assert response.read() == PNG and response.content_type == "image/png"


def test_redirect_within_allowed_hosts_is_followed(image_server):
    assert fetcher().fetch(f"{image_server}/redirect-in").read() == PNG


@pytest.mark.parametrize("path, reason", [
    ("/redirect-out", "not allowed"), ("/big.png", "MATBAA_MAX_IMAGE_BYTES"),
    ("/page.html", "not an image"), ("/missing.png", "404"),
])
def test_refused_images(image_server, path, reason):
    with pytest.raises(FetchRefused, match=reason):
        fetcher().fetch(f"{image_server}{path}")


def test_loopback_is_refused_even_for_an_allowed_host(image_server):
    with pytest.raises(FetchRefused, match="not public"):
        fetcher(allow_loopback=False).fetch(f"{image_server}/ok.png")


@pytest.mark.parametrize("address", [
    "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "0.0.0.0",
    "::1", "fd00::1", "fe80::1", "::ffff:127.0.0.1", "100.64.0.1",
])
def test_private_addresses_are_refused(address):
    with pytest.raises(FetchRefused):
        ImagePolicy(["x.example"]).check_address(address)


def test_public_address_is_accepted():
    ImagePolicy(["x.example"]).check_address("93.184.216.34")


def test_hosts_not_listed_are_refused(image_server):
    with pytest.raises(FetchRefused):
        Fetcher({}, ImagePolicy(["cdn.example"], allow_loopback=True)).fetch(
            f"{image_server}/ok.png")


def test_article_images_print_from_allowed_hosts(image_server, settings, tmp_path):
    from service.render import Renderer

    renderer = Renderer(settings.replace(image_hosts="127.0.0.1"), allow_loopback_images=True)
    Handler.hits.clear()
    article = parse_article({
        "id": "img", "title": "صورة", "body_html": f'<p>نص</p><img src="{image_server}/ok.png">',
        "lead_image": {"src": f"{image_server}/ok.png", "caption": "تعليق الصورة"}})
    pdf = renderer.pdf(article).pdf
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    images = [name for name, obj in page["/Resources"]["/XObject"].items()
              if obj.get_object()["/Subtype"] == "/Image"]
    assert images
    assert Handler.hits.count("/ok.png") == 1   # fetched once, then reused


def test_fetched_images_are_kept_within_their_byte_budget(image_server):
    """MATBAA_IMAGE_CACHE_BYTES: it was 256 images whatever their size (256 × 5 MB)."""
    kept = Fetcher({}, ImagePolicy(["127.0.0.1"], timeout=3, allow_loopback=True),
                   cache_bytes=len(PNG) * 2)
    Handler.hits.clear()
    for n in range(4):
        kept.fetch(f"{image_server}/ok.png?{n}")
    assert kept._remote_bytes <= len(PNG) * 2 and len(kept._remote_cache) == 2
    kept.fetch(f"{image_server}/ok.png?3")         # the latest: kept
    kept.fetch(f"{image_server}/ok.png?0")         # the oldest: let go, fetched again
    assert Handler.hits.count("/ok.png?3") == 1 and Handler.hits.count("/ok.png?0") == 2


@pytest.mark.parametrize("src", ["http://127.0.0.1:99999/a.png",    # .port raises
                                 "http://[::1/a.png",               # urlsplit raises
                                 "http://127.0.0.1:-1/a.png"])
def test_a_malformed_image_address_is_refused_with_a_note(src, settings, client, tmp_path):
    """It was a ValueError out of urlsplit: a 500 for the PDF and the print view."""
    from service.render import Renderer

    from .conftest import pdftotext

    policy = ImagePolicy(["127.0.0.1"], allow_loopback=True)
    assert not policy.allows_url(src)
    with pytest.raises(FetchRefused):
        Fetcher({}, policy).fetch(src)
    renderer = Renderer(settings.replace(image_hosts="127.0.0.1"), allow_loopback_images=True)
    article = {"id": "bad-img", "title": "صورة", "body_html": f'<p>نص</p><img src="{src}">',
               "lead_image": {"src": src, "caption": "تعليق"}}
    text = pdftotext(renderer.pdf(parse_article(article)).pdf, tmp_path)
    assert "الصورة غير متاحة" in " ".join(text.split()).replace("\u200f", "")
    assert client.put("/articles/bad-img", json=article).status_code == 201
    assert client.get("/articles/bad-img.pdf").status_code == 200
    assert client.get("/articles/bad-img/print").status_code == 200
