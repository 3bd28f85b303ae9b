"""The WordPress source against a real WordPress 6.1 (Debian's package, MariaDB, php -S)."""

import io
import socket
import threading
import time
import urllib.error
from urllib.parse import quote

import pytest
from pypdf import PdfReader

from service.app import create_app
from service.settings import Settings
from service.verify import article_text, normalize, score_words
from service.wordpress import article_data

from .conftest import pdftotext as pdftotext_raw
from .test_http import assert_error


def wp_app(tmp_path, site_url, **overrides):
    settings = Settings.from_env(data_dir=tmp_path / "data", wordpress_url=site_url, **overrides)
    return create_app(settings)


@pytest.fixture
def wp(tmp_path, wordpress_site):
    app = wp_app(tmp_path, wordpress_site.url)
    return app, app.test_client(), app.extensions["matbaa.store"]


def pdftotext(pdf, tmp_path):
    """The text layer without its direction marks, whitespace folded."""
    return " ".join(normalize(pdftotext_raw(pdf, tmp_path)).split())


def images_in(pdf):
    return sum(1 for page in PdfReader(io.BytesIO(pdf)).pages for _ in page.images)


def test_post_is_loaded_mapped_stored_and_printed(wp, wordpress_site, tmp_path):
    app, client, store = wp
    post_id = wordpress_site.made["main"]
    response = client.get(f"/articles/{post_id}.pdf")
    assert response.status_code == 200, response.data[:300]
    assert response.mimetype == "application/pdf"

    article = store.get(str(post_id))
    assert article.title == "مجلس الوزراء يناقش «رؤية الكويت» في اجتماعه الأسبوعي"
    assert article.author == "سارة المطيري"
    assert article.section == "الكويت"
    assert article.categories == ["الكويت"]
    assert article.tags == ["مجلس الأمة"]
    assert article.subtitle == "الحكومة تعرض نسبة الإنجاز في خطة التنمية"
    assert article.slug == "مجلس-الوزراء-يناقش-رؤية-الكويت"
    assert article.site == "الوطن العربي"       # the site's own name, from its REST index
    assert article.published_at.isoformat() == "2026-05-10T06:30:00+00:00"
    assert article.url.startswith(wordpress_site.url + "/2026/05/")
    assert article.lead_image.src == f"{wordpress_site.url}/wp-content/uploads/2026/05/lead.png"
    assert article.lead_image.caption == "جانب من اجتماع مجلس الوزراء أمس"
    assert article.lead_image.alt == "قاعة الاجتماع"
    # The site's own logo, named by its REST index, in the masthead of its posts.
    assert article.site_logo.startswith(wordpress_site.url + "/wp-content/uploads/")
    assert article.site_logo.endswith("/logo.png")

    text = pdftotext(response.data, tmp_path)
    for expected in ("مجلس الوزراء يناقش", "سارة المطيري", "الوطن العربي", "Kuwait Vision",
                     "جانب من اجتماع مجلس الوزراء أمس", "المرحلة الثانية"):
        assert expected in text
    score = score_words(article_text(article), pdftotext_raw(response.data, tmp_path))
    assert score.ratio == 1.0, score.to_json()
    # The featured image came from WordPress on loopback: the configured site is trusted.
    # The lead image, the site's logo and the QR code of its address; the logo stays
    # without images: ?images=0 is for the article's pictures.
    without_images = client.get(f"/articles/{post_id}.pdf?images=0").data
    assert images_in(response.data) == 3 and images_in(without_images) == 2


def test_print_view_of_a_post(wp, wordpress_site):
    _app, client, _store = wp
    response = client.get(f"/articles/{wordpress_site.made['main']}/print")
    assert response.status_code == 200
    assert "يناقش «رؤية الكويت»" in response.get_data(as_text=True)


@pytest.mark.parametrize("form", ["text", "percent-encoded"])
def test_post_by_arabic_slug(wp, wordpress_site, tmp_path, form):
    _app, client, store = wp
    slug = "مجلس-الوزراء-يناقش-رؤية-الكويت"
    path = quote(slug) if form == "text" else quote(quote(slug).lower())
    response = client.get(f"/articles/by-slug/{path}.pdf")
    assert response.status_code == 200, response.data[:300]
    assert "رؤية الكويت" in pdftotext(response.data, tmp_path)
    assert store.get(str(wordpress_site.made["main"])) is not None


def test_unknown_slug_is_404(wp):
    _app, client, _store = wp
    assert_error(client.get(f"/articles/by-slug/{quote('لا-يوجد')}.pdf"), 404,
                 "article_not_found")


@pytest.mark.parametrize("which", ["draft", "private"])
def test_draft_and_private_posts_are_refused_and_not_stored(wp, wordpress_site, which):
    _app, client, store = wp
    post_id = wordpress_site.made[which]
    error = assert_error(client.get(f"/articles/{post_id}.pdf"), 403, "article_not_public")
    assert "WordPress" in error["message_en"]
    assert_error(client.get(f"/articles/{post_id}/print"), 403, "article_not_public")
    assert store.get(str(post_id)) is None


def test_missing_post_is_404(wp):
    _app, client, store = wp
    assert_error(client.get("/articles/987654.pdf"), 404, "article_not_found")
    assert store.get("987654") is None


def test_edit_is_picked_up_after_the_freshness_window(tmp_path, wordpress_site):
    post_id = wordpress_site.new_post("عنوان أول", "<p>نص الخبر الأول.</p>")
    app = wp_app(tmp_path, wordpress_site.url, wordpress_freshness=1)
    client, store = app.test_client(), app.extensions["matbaa.store"]
    first = client.get(f"/articles/{post_id}.pdf")
    assert first.status_code == 200
    wordpress_site.update_post(post_id, post_title="عنوان جديد")
    time.sleep(1.1)
    second = client.get(f"/articles/{post_id}.pdf")
    assert second.status_code == 200
    assert store.get(str(post_id)).title == "عنوان جديد"
    assert second.headers["ETag"] != first.headers["ETag"]
    assert "عنوان جديد" in pdftotext(second.data, tmp_path)

    # Asked again with nothing changed: same revision, so the cached PDF is served.
    time.sleep(1.1)
    third = client.get(f"/articles/{post_id}.pdf")
    assert third.headers["ETag"] == second.headers["ETag"]
    assert third.headers["X-Matbaa-Cache"] == "hit"


def test_within_the_freshness_window_wordpress_is_not_asked(tmp_path, wordpress_site):
    post_id = wordpress_site.new_post("خبر ثابت", "<p>نص.</p>")
    app = wp_app(tmp_path, wordpress_site.url, wordpress_freshness=3600)
    client, store = app.test_client(), app.extensions["matbaa.store"]
    assert client.get(f"/articles/{post_id}.pdf").status_code == 200
    wordpress_site.update_post(post_id, post_title="خبر تغيّر")
    assert client.get(f"/articles/{post_id}.pdf").status_code == 200
    assert store.get(str(post_id)).title == "خبر ثابت"


def test_wordpress_down_serves_the_stored_copy_marked_stale(tmp_path, wordpress_site):
    post_id = wordpress_site.made["plain"]
    app = wp_app(tmp_path, wordpress_site.url, wordpress_freshness=1)
    client = app.test_client()
    fresh = client.get(f"/articles/{post_id}.pdf")
    assert fresh.status_code == 200 and "Warning" not in fresh.headers
    time.sleep(1.1)
    wordpress_site.stop_web()
    try:
        stale = client.get(f"/articles/{post_id}.pdf")
        assert stale.status_code == 200
        assert stale.headers["Warning"].startswith("111 ")
        assert "source_unavailable" in stale.headers["X-Matbaa-Source"]
        assert stale.data == fresh.data
        # A post never stored cannot be served: a clear error, nothing stored.
        error = assert_error(client.get(f"/articles/{wordpress_site.made['main']}.pdf"), 502,
                             "source_unavailable")
        assert wordpress_site.url in error["message_en"]
        assert client.get(f"/articles/{wordpress_site.made['main']}.pdf").headers[
            "Retry-After"]
    finally:
        wordpress_site.start_web()
    assert "Warning" not in client.get(f"/articles/{post_id}.pdf").headers


def test_wordpress_database_down_is_a_clear_502(tmp_path, wordpress_site):
    """WordPress up but its database not: WordPress answers 500; we say so clearly."""
    app = wp_app(tmp_path, wordpress_site.url)
    client = app.test_client()
    with wordpress_site.database_unreachable():
        error = assert_error(client.get(f"/articles/{wordpress_site.made['main']}.pdf"), 502,
                             "source_unavailable")
        assert "HTTP 500" in error["message_en"]
        assert app.extensions["matbaa.store"].get(str(wordpress_site.made["main"])) is None
    assert client.get(f"/articles/{wordpress_site.made['main']}.pdf").status_code == 200


def silent_server():
    """A listener that accepts connections and never answers: a hung WordPress."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return
    threading.Thread(target=accept, daemon=True).start()
    return server


def test_slow_wordpress_is_a_504_naming_the_setting(tmp_path):
    server = silent_server()
    try:
        app = wp_app(tmp_path, f"http://127.0.0.1:{server.getsockname()[1]}",
                     wordpress_timeout=1)
        started = time.monotonic()
        error = assert_error(app.test_client().get("/articles/12.pdf"), 504, "source_timeout")
        assert time.monotonic() - started < 5
        assert "MATBAA_WORDPRESS_TIMEOUT" in error["message_en"]
    finally:
        server.close()


def test_site_without_pretty_links_is_read_through_rest_route(tmp_path, wordpress_site):
    with wordpress_site.without_pretty_links():
        with pytest.raises(urllib.error.HTTPError):
            wordpress_site.get_json(f"/wp-json/wp/v2/posts/{wordpress_site.made['plain']}")
        app = wp_app(tmp_path, wordpress_site.url)
        response = app.test_client().get(f"/articles/{wordpress_site.made['plain']}.pdf")
        assert response.status_code == 200, response.data[:300]
        text = pdftotext(response.data, tmp_path)
        assert "خبر بلا صورة" in text and "الوطن العربي" in text


def test_publishing_hook_stores_and_prerenders(tmp_path, wordpress_site):
    post_id = wordpress_site.new_post("خبر عاجل", "<p>نُشر الآن.</p>")
    app = wp_app(tmp_path, wordpress_site.url)
    client = app.test_client()
    response = client.post("/hooks/wordpress", json={"post_id": post_id})
    assert response.status_code == 201, response.data[:300]
    assert response.headers["Location"] == f"/articles/{post_id}.pdf"
    app.extensions["matbaa.prerenders"].join()
    assert client.get(f"/articles/{post_id}.pdf").headers["X-Matbaa-Cache"] == "hit"

    # Unpublished in WordPress: the hook removes our copy, and it is no longer served.
    wordpress_site.update_post(post_id, post_status="draft")
    response = client.post("/hooks/wordpress", json={"post_id": str(post_id)})
    assert response.get_json()["outcome"] == "removed"
    assert app.extensions["matbaa.store"].get(str(post_id)) is None
    assert_error(client.get(f"/articles/{post_id}.pdf"), 403, "article_not_public")


def test_hook_needs_a_key_when_keys_are_set(tmp_path, wordpress_site):
    app = wp_app(tmp_path, wordpress_site.url, api_keys="k1")
    client = app.test_client()
    assert_error(client.post("/hooks/wordpress", json={"post_id": 1}), 401, "unauthorized")
    assert_error(client.post("/hooks/wordpress", json={"post_id": "x"},
                             headers={"Authorization": "Bearer k1"}), 422, "invalid_article")


def test_image_that_fails_leaves_a_note_not_a_broken_pdf(tmp_path, wordpress_site):
    post_id = wordpress_site.new_post(
        "خبر بصورة مفقودة",
        f'<figure><img src="{wordpress_site.url}/wp-content/uploads/none.png" alt="المبنى">'
        "<figcaption>مبنى الوزارة</figcaption></figure><p>نص الخبر.</p>")
    app = wp_app(tmp_path, wordpress_site.url)
    response = app.test_client().get(f"/articles/{post_id}.pdf")
    assert response.status_code == 200
    text = pdftotext(response.data, tmp_path)
    assert "[صورة: المبنى]" in text and "مبنى الوزارة" in text
    assert images_in(response.data) == images_in(
        app.test_client().get(f"/articles/{post_id}.pdf?images=0").data)


def test_field_map_without_featured_image_or_written_excerpt():
    data = article_data({
        "id": 7, "title": {"rendered": "Matbaa &#8211; خبر"},
        "content": {"rendered": "<p>نص</p>"},
        "excerpt": {"rendered": "<p>نص [&hellip;]</p>\n"},
        "slug": "%d8%ae%d8%a8%d8%b1", "date_gmt": "2026-01-02T03:04:05",
        "modified_gmt": "2026-01-02T03:04:05", "link": "https://news.example/?p=7",
        "_embedded": {"author": [{"name": "كاتب"}], "wp:term": [[], []]},
    })
    assert data["title"] == "Matbaa – خبر"
    assert data["slug"] == "خبر"
    assert "subtitle" not in data and "lead_image" not in data and "section" not in data
    assert data["published_at"] == "2026-01-02T03:04:05+00:00"


def test_a_missing_post_is_remembered_for_a_while(tmp_path, wordpress_site):
    """Readers following a link to a deleted post do not each cost WordPress a request."""
    app = wp_app(tmp_path, wordpress_site.url, wordpress_missing_ttl=2)
    client, wordpress = app.test_client(), app.extensions["matbaa.wordpress"]
    asked = []
    request = wordpress.http.request

    def counted(method, url, **kwargs):       # the real request, counted
        asked.append(url)
        return request(method, url, **kwargs)

    wordpress.http.request = counted
    for _ in range(5):
        assert_error(client.get("/articles/987655.pdf"), 404, "article_not_found")
        assert_error(client.get(f"/articles/by-slug/{quote('لا-يوجد-أبداً')}.pdf"), 404,
                     "article_not_found")
    assert len([u for u in asked if "987655" in u]) == 1
    assert len([u for u in asked if "slug=" in u]) == 1
    time.sleep(2.1)
    assert_error(client.get("/articles/987655.pdf"), 404, "article_not_found")
    assert len([u for u in asked if "987655" in u]) == 2
    # A draft is remembered as not public; once published, the hook (which always asks)
    # brings it in at once, and readers get it.
    post_id = wordpress_site.new_post("مسودة", "<p>نص.</p>", post_status="draft")
    assert_error(client.get(f"/articles/{post_id}.pdf"), 403, "article_not_public")
    wordpress_site.update_post(post_id, post_status="publish")
    assert_error(client.get(f"/articles/{post_id}.pdf"), 403, "article_not_public")
    assert len([u for u in asked if f"/posts/{post_id}" in u]) == 1
    hooked = client.post("/hooks/wordpress", json={"post_id": post_id})
    assert hooked.status_code == 201
    assert client.get(f"/articles/{post_id}.pdf").status_code == 200
    wordpress_site.php(f"wp_delete_post({post_id}, true);")
