"""Hostile input: nothing local is read, nothing on the network is reached, nothing breaks.

Every case goes through `POST /render` like a client's request.  Canary
listeners on 127.0.0.1 and [::1] count connections.  The secret is a text file,
and beside it a picture, a stylesheet and an SVG that would each show on the
page if read: the PDF is searched for its bytes, its text and its pixels.  Each
case names the guard that stops it, and the test checks that guard's trace
(the markup gone from what WeasyPrint gets, the image note, the refusal
logged); `test_the_oracles_see_a_secret_that_was_read` shows each oracle fails
on a page that did read the secret.
"""

import base64
import io
import json
import logging
import re
import socket
import struct
import subprocess
import threading
import time
import zlib

import pytest

from service.app import create_app

from service.verify import normalize

from .conftest import pdftotext

SECRET = "CANARY-SECRET-7f3a9"
# The secret image's colour: a pixel of it on a printed page means the file was read.
SECRET_RGB = (13, 201, 77)


@pytest.fixture(scope="module")
def canary():
    """TCP listeners on 127.0.0.1 and [::1], on one port, counting every connection."""
    for _ in range(20):
        v4, v6 = socket.socket(), socket.socket(socket.AF_INET6)
        v4.bind(("127.0.0.1", 0))
        try:
            v6.bind(("::1", v4.getsockname()[1]))
            break
        except OSError:          # that port is taken on [::1]: try another
            v4.close()
            v6.close()
    hits, stop = [], threading.Event()

    def accept(server):
        server.listen(16)
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                hits.append(server.family)
                connection.close()
            except OSError:
                pass

    threads = [threading.Thread(target=accept, args=(s,), daemon=True) for s in (v4, v6)]
    for thread in threads:
        thread.start()
    yield v4.getsockname()[1], hits
    stop.set()
    for thread, server in zip(threads, (v4, v6)):
        thread.join()
        server.close()


def secret_png():
    """A picture in SECRET_RGB with the secret written on it."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 60), SECRET_RGB)
    ImageDraw.Draw(image).text((10, 20), SECRET, fill=(255, 255, 255))
    png = io.BytesIO()
    image.save(png, "PNG")
    return png.getvalue()


SECRET_CSS = f'body::before, p::after {{ content: "{SECRET}"; }}'
SECRET_SVG = (f'<svg xmlns="http://www.w3.org/2000/svg" width="400" height="60">'
              f'<rect width="400" height="60" fill="rgb{SECRET_RGB}"/>'
              f'<text x="10" y="40" font-size="20">{SECRET}</text></svg>')


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    """The secret as plain text; beside it as a picture, a stylesheet and an SVG, each of
    which would show on the page if a vector made the engine read it."""
    folder = tmp_path_factory.mktemp("secret")
    (folder / "secret.txt").write_text(SECRET)
    (folder / "secret.png").write_bytes(secret_png())
    (folder / "secret.css").write_text(SECRET_CSS)
    (folder / "secret.svg").write_text(SECRET_SVG)
    return folder / "secret.txt"


def secret_seen(pdf, tmp_path):
    """Where the secret shows in ``pdf``: its bytes, its text, its picture's pixels."""
    seen = []
    if SECRET.encode() in pdf:
        seen.append("bytes")
    # Without the bidi marks the text layer puts around punctuation.
    if SECRET in normalize(pdftotext(pdf, tmp_path)):
        seen.append("text")
    path = tmp_path / "seen.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "seen")],
                   check=True)
    from PIL import Image, ImageChops

    for page in sorted(tmp_path.glob("seen*.png")):
        with Image.open(page) as image:
            bands = image.convert("RGB").split()
        # 255 where all three channels are near the secret's colour.
        near = [band.point(lambda v, c=c: 255 if abs(v - c) < 12 else 0)
                for band, c in zip(bands, SECRET_RGB)]
        mask = ImageChops.multiply(ImageChops.multiply(near[0], near[1]), near[2])
        if mask.histogram()[255] > 20:
            seen.append(f"pixels of {page.name}")
        page.unlink()
    return seen


def bomb_png():
    """A PNG declaring 30000×30000 pixels in a few hundred bytes."""
    width = height = 30000
    raw = zlib.compress(b"\0" * (width // 8 + 1) * 64, 9)
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0))
    png += chunk(b"IDAT", raw) + chunk(b"IEND", b"")
    return "data:image/png;base64," + base64.b64encode(png).decode()


# Which guard stops each vector, and what it leaves to see:
#   "sanitizer": the vector's markup is gone from the HTML WeasyPrint gets;
#   "note": an image not allowed is printed as a note, never fetched;
#   "fetcher": the fetcher is asked and refuses, logging each address;
#   "engine": WeasyPrint refuses the image itself (logging it);
#   "text": nothing to stop, the text is printed.
GUARDS = {
    "img-file": "note", "img-svg-file": "note", "link-file": "sanitizer",
    "import-file": "sanitizer", "style-attr-file": "sanitizer", "svg-image-file": "sanitizer",
    "svg-use-file": "sanitizer", "object-file": "sanitizer", "embed-file": "sanitizer",
    "iframe-file": "sanitizer", "base-file": "note", "img-canary": "note",
    "img-ipv6-canary": "note", "img-localhost": "note", "img-metadata": "note",
    "style-canary": "sanitizer", "font-face-canary": "sanitizer", "input-image": "sanitizer",
    "video-poster": "sanitizer", "meta-refresh": "sanitizer", "script": "sanitizer",
    "javascript-link": "sanitizer", "srcset": "sanitizer", "svg-data-image": "fetcher",
    "css-attr-expression": "sanitizer", "decompression-bomb": "engine",
    "event-handler": "note", "form": "sanitizer", "object-data-canary": "sanitizer",
    "link-canary": "sanitizer", "unicode-trickery": "text", "escaped-markup": "text",
}


def bodies(port, secret):
    folder = secret.parent
    file_url, png_url = secret.as_uri(), (folder / "secret.png").as_uri()
    css_url, svg_url = (folder / "secret.css").as_uri(), (folder / "secret.svg").as_uri()
    canary = f"http://127.0.0.1:{port}/x.png"
    svg = ("data:image/svg+xml," + f"<svg xmlns='http://www.w3.org/2000/svg' "
           f"xmlns:xlink='http://www.w3.org/1999/xlink' width='10' height='10'>"
           f"<image href='{png_url}' width='10' height='10'/>"
           f"<image xlink:href='{canary}' width='10' height='10'/></svg>")
    return {
        "img-file": f'<img src="{png_url}">',
        "img-svg-file": f'<img src="{svg_url}">',
        "link-file": f'<link rel="stylesheet" href="{css_url}">',
        "import-file": f"<style>@import url({css_url});</style>",
        "style-attr-file": f'<p style="background: url({png_url})">نص</p>',
        "svg-image-file": f'<svg><image href="{png_url}"/></svg>',
        "svg-use-file": f'<svg><use href="{svg_url}#x"/></svg>',
        "object-file": f'<object data="{svg_url}"></object>',
        "embed-file": f'<embed src="{svg_url}">',
        "iframe-file": f'<iframe src="{file_url}"></iframe>',
        "base-file": f'<base href="file:///"><img src="{(folder / "secret.png").relative_to("/")}">',
        "img-canary": f'<img src="{canary}">',
        "img-ipv6-canary": f'<img src="http://[::1]:{port}/x.png">',
        "img-localhost": f'<img src="http://localhost:{port}/x.png">',
        "img-metadata": '<img src="http://169.254.169.254/latest/meta-data/">',
        "style-canary": f"<style>p {{ background: url({canary}) }}</style><p>نص</p>",
        "font-face-canary": f"<style>@font-face {{ font-family: x; src: url({canary}) }}</style>",
        "input-image": f'<input type="image" src="{canary}">',
        "video-poster": f'<video poster="{canary}"></video>',
        "meta-refresh": f'<meta http-equiv="refresh" content="0; url={canary}">',
        "script": f"<script>fetch('{canary}')</script><p>نص</p>",
        "javascript-link": '<a href="javascript:alert(1)">رابط</a>',
        "srcset": f'<img srcset="{canary} 2x" src="data:image/gif;base64,'
                  'R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7">',
        "svg-data-image": f'<img src="{svg}">',
        "css-attr-expression": '<p style="width: expression(alert(1))">نص</p>',
        "decompression-bomb": f'<img src="{bomb_png()}">',
        "event-handler": f'<img src="x" onerror="fetch(\'{canary}\')">',
        "form": f'<form action="{canary}"><input name="q"></form><p>نص</p>',
        "object-data-canary": f'<object data="{canary}"></object>',
        "link-canary": f'<link rel="stylesheet" href="{canary}">',
        "unicode-trickery": "<p>\u202eنص مقلوب\u202c و\u0000صفر</p>",
        "escaped-markup": f'&lt;img src="{png_url}"&gt;<span>نص</span> &lt;link href="{css_url}"&gt;',
    }


def render(client, body, **payload):
    data = {"id": "hostile", "title": "عنوان", "body_html": body, **payload}
    return client.post("/render", json=data)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from service.settings import Settings

    settings = Settings.from_env(data_dir=tmp_path_factory.mktemp("hostile"), max_pages=20)
    return create_app(settings).test_client()


def test_at_least_thirty_cases(canary, secret_file):
    assert len(bodies(canary[0], secret_file)) >= 30
    assert set(GUARDS) == set(bodies(canary[0], secret_file))


_ADDRESS = re.compile(r"(?:file|https?)://[^\s'\"()<>]+")


@pytest.mark.parametrize("case", sorted(GUARDS))
def test_hostile_body(case, client, canary, secret_file, tmp_path, caplog):
    port, hits = canary
    before = len(hits)
    body = bodies(port, secret_file)[case]
    response = render(client, body)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert secret_seen(response.data, tmp_path) == []
    assert hits[before:] == [], "a connection reached the canary"
    assert client.get("/health").get_json()["ok"]

    # The guard that should have stopped it did, and said so where it says anything.
    from service.article import parse_article

    renderer = client.application.extensions["matbaa.renderer"]
    engine_html = renderer.html(parse_article({"id": "h", "title": "t", "body_html": body}))
    body_html = engine_html[engine_html.index('<div class="body">'):]
    addresses = _ADDRESS.findall(body.split("data:image/svg+xml,")[0])
    refused = [r for r in caplog.records if r.name == "service.fetch"
               and r.getMessage().startswith("fetch refused")]
    engine = [r for r in caplog.records if r.name.startswith("weasyprint")
              and r.levelno >= logging.WARNING]
    guard = GUARDS[case]
    if guard in ("sanitizer", "note"):
        assert not any(a in body_html for a in addresses), body_html[:500]
        assert refused == [] and engine == []
    if guard == "note":
        assert "[صورة غير متاحة]" in normalize(pdftotext(response.data, tmp_path))
    if guard == "fetcher":
        asked = {r.getMessage().removeprefix("fetch refused: ") for r in refused}
        assert asked == {(secret_file.parent / "secret.png").as_uri(),
                         f"http://127.0.0.1:{port}/x.png"}, asked
    if guard == "engine":
        assert refused == [] and engine and all("Failed to load image" in r.getMessage()
                                                for r in engine)
    if guard == "text":
        text = pdftotext(response.data, tmp_path)
        assert "نص" in text and refused == [] and engine == []
    for record in refused + engine:
        record.expected = True   # the refusals asserted above, and only those


def test_the_oracles_see_a_secret_that_was_read(client, canary, secret_file, tmp_path):
    """Each oracle above can fail: a page that did read the secret, as each vector would
    have, is caught by its bytes, its text and its pixels, and a connection by the
    canaries on both addresses."""
    port, hits = canary
    folder = secret_file.parent
    renderer = client.application.extensions["matbaa.renderer"]
    png = base64.b64encode((folder / "secret.png").read_bytes()).decode()
    svg = base64.b64encode((folder / "secret.svg").read_bytes()).decode()
    read = renderer.html_to_pdf(
        f"<html><head><style>{SECRET_CSS}</style></head><body><p>نص</p>"
        f'<img src="data:image/png;base64,{png}"></body></html>')
    assert {"text", "pixels of seen-1.png"} <= set(secret_seen(read, tmp_path))
    as_svg = renderer.html_to_pdf(f'<img src="data:image/svg+xml;base64,{svg}">')
    assert "pixels of seen-1.png" in secret_seen(as_svg, tmp_path)
    import pikepdf

    with pikepdf.open(io.BytesIO(renderer.html_to_pdf("<p>نص</p>"))) as pdf:
        pdf.Root.Secret = pikepdf.String(SECRET)      # the file's bytes, kept unseen
        kept = io.BytesIO()
        pdf.save(kept, object_stream_mode=pikepdf.ObjectStreamMode.disable)
    assert secret_seen(kept.getvalue(), tmp_path) == ["bytes"]
    before = len(hits)
    for address in ("127.0.0.1", "::1"):
        socket.create_connection((address, port), timeout=2).close()
    deadline = time.monotonic() + 5
    while len(hits) < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(hits[before:]) == sorted([socket.AF_INET, socket.AF_INET6])


@pytest.mark.parametrize("payload, status, code", [
    ({"body_html": "<div>" * 5000 + "نص" + "</div>" * 5000}, 422, "invalid_article"),
    ({"title": 42}, 422, "invalid_article"),
    ({"paragraphs": "not a list", "body_html": None}, 422, "invalid_article"),
    ({"lead_image": {"src": "file:///etc/passwd"}}, 422, "invalid_article"),
    ({"url": "javascript:alert(1)"}, 422, "invalid_article"),
    ({"body_html": "<p>فقرة</p>" * 2500}, 422, "too_many_pages"),
])
def test_hostile_payloads_get_clean_errors(client, payload, status, code):
    data = {"id": "hostile", "title": "عنوان", "body_html": "<p>نص</p>", **payload}
    response = client.post("/render", json=data)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert client.get("/health").get_json()["ok"]


def test_ten_megabytes_is_refused(client):
    response = client.post("/render", data=json.dumps(
        {"id": "big", "title": "t", "body_html": "ا" * 10_000_000}),
        content_type="application/json")
    assert response.status_code == 413
    assert client.get("/health").get_json()["ok"]


def test_malformed_utf8_is_a_400(client):
    response = client.post("/render", data=b'{"id": "x", "title": "\xff\xfe"}',
                           content_type="application/json")
    assert response.status_code == 400


def test_remote_lead_image_is_not_fetched(client, canary, tmp_path):
    port, hits = canary
    before = len(hits)
    response = render(client, "<p>نص</p>",
                      lead_image={"src": f"http://127.0.0.1:{port}/lead.jpg", "caption": "تعليق"})
    assert response.status_code == 200 and len(hits) == before
    assert "تعليق" in pdftotext(response.data, tmp_path)
