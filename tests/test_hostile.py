"""Hostile input: nothing local is read, nothing on the network is reached, nothing breaks.

Every case goes through `POST /render` like a client's request.  A canary
listener on 127.0.0.1 counts connections; a secret file must never show in a
PDF; each answer is a PDF or a clean 4xx; /health is fine afterwards.
"""

import base64
import json
import socket
import threading
import zlib
import struct

import pytest

from service.app import create_app

from .conftest import pdftotext

SECRET = "CANARY-SECRET-7f3a9"


@pytest.fixture(scope="module")
def canary():
    """A TCP listener on loopback that counts every connection made to it."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    server.settimeout(0.2)
    hits, stop = [], threading.Event()

    def accept():
        while not stop.is_set():
            try:
                connection, _ = server.accept()
                hits.append(1)
                connection.close()
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], hits
    stop.set()
    thread.join()
    server.close()


@pytest.fixture(scope="module")
def secret_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("secret") / "secret.txt"
    path.write_text(SECRET)
    return path


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


def bodies(port, secret):
    file_url = secret.as_uri()
    canary = f"http://127.0.0.1:{port}/x.png"
    svg = ("data:image/svg+xml," + f"<svg xmlns='http://www.w3.org/2000/svg' "
           f"xmlns:xlink='http://www.w3.org/1999/xlink' width='10' height='10'>"
           f"<image href='{file_url}' width='10' height='10'/>"
           f"<image xlink:href='{canary}' width='10' height='10'/></svg>")
    return {
        "img-file": f'<img src="{file_url}">',
        "link-file": f'<link rel="stylesheet" href="{file_url}">',
        "import-file": f"<style>@import url({file_url});</style>",
        "style-attr-file": f'<p style="background: url({file_url})">نص</p>',
        "svg-image-file": f'<svg><image href="{file_url}"/></svg>',
        "svg-use-file": f'<svg><use href="{file_url}#x"/></svg>',
        "object-file": f'<object data="{file_url}"></object>',
        "embed-file": f'<embed src="{file_url}">',
        "iframe-file": f'<iframe src="{file_url}"></iframe>',
        "base-file": f'<base href="file:///"><img src="{secret.relative_to("/")}">',
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
        "srcset": f'<img srcset="{canary} 2x" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">',
        "svg-data-image": f'<img src="{svg}">',
        "css-attr-expression": '<p style="width: expression(alert(1))">نص</p>',
        "decompression-bomb": f'<img src="{bomb_png()}">',
        "event-handler": f'<img src="x" onerror="fetch(\'{canary}\')">',
        "form": f'<form action="{canary}"><input name="q"></form><p>نص</p>',
        "object-data-canary": f'<object data="{canary}"></object>',
        "link-canary": f'<link rel="stylesheet" href="{canary}">',
        "unicode-trickery": "<p>\u202eنص مقلوب\u202c و\u0000صفر</p>",
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


@pytest.mark.parametrize("case", sorted(bodies(0, __import__("pathlib").Path("/s"))))
def test_hostile_body(case, client, canary, secret_file, tmp_path, caplog):
    port, hits = canary
    before = len(hits)
    response = render(client, bodies(port, secret_file)[case])
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert SECRET.encode() not in response.data
    assert SECRET not in pdftotext(response.data, tmp_path)
    assert len(hits) == before, "a connection reached the canary"
    assert client.get("/health").get_json()["ok"]
    for record in caplog.records:
        record.expected = True   # refused fetches are logged, as they should be


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
