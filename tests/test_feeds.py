"""Feeds (service.feeds): RSS 2.0 and Atom items become articles, by file, URL or HTTP."""

import http.server
import threading
from pathlib import Path

import pytest

from service.cli import main
from service.feeds import articles_from_feed, feed_item_id
from service.verify import words

from .conftest import pdftotext
from .test_http import assert_error

FEEDS = Path(__file__).parent / "resources" / "feeds"
RSS = (FEEDS / "gulf-rss.xml").read_bytes()
ATOM = (FEEDS / "levant-atom.xml").read_bytes()


def test_an_rss_item_becomes_an_article():
    items = articles_from_feed(RSS)
    assert items.title == "صحيفة الخليج المسائية"
    bridge = items.articles[0].to_json()
    assert bridge["id"] == "gulf-example-p-4411"              # from the guid, not the link
    assert bridge["title"] == "افتتاح جسر جديد فوق الخور"
    # content:encoded, not the description; CDATA kept as markup, entities as text.
    assert "<strong>عشر دقائق</strong>" in bridge["body_html"]
    assert "ملخص قصير" not in bridge["body_html"]
    assert "9.5 مليون درهم &amp; أُنجز" in bridge["body_html"]
    assert bridge["published_at"] == "2018-06-05T18:36:06+04:00"   # the zone as written
    assert "updated_at" not in bridge
    assert bridge["author"] == "مريم الهاشمي"                   # dc:creator
    assert (bridge["section"], bridge["categories"]) == ("محليات", ["محليات", "نقل"])
    assert bridge["url"] == "https://gulf.example/news/2018/06/05/new-bridge"
    assert bridge["lead_image"] == {"src": "https://gulf.example/uploads/bridge.jpg"}
    assert bridge["site"] == "صحيفة الخليج المسائية"


def test_an_item_with_a_description_only_and_an_rss_author():
    rain = articles_from_feed(RSS).articles[1].to_json()
    assert rain["id"] == "news-2018-06-05-rain"
    assert rain["body_html"].startswith("<p>يتوقع المركز الوطني للأرصاد")  # escaped HTML
    assert rain["author"] == "قسم الطقس"                        # «email (name)»
    assert rain["lead_image"] == {"src": "https://gulf.example/uploads/clouds.png"}


def test_an_item_without_a_date_has_none_and_broken_items_are_reported():
    items = articles_from_feed(RSS)
    assert [a.id for a in items.articles] == [
        "gulf-example-p-4411", "news-2018-06-05-rain", "gulf-item-no-date"]
    assert items.articles[2].published_at is None
    failed = {f["guid"]: f["error"] for f in items.failed}
    assert failed["gulf-item-broken"]["field"] == "title"
    assert failed["gulf-item-bad-date"]["field"] == "published_at"
    assert "«قريباً»" in failed["gulf-item-bad-date"]["message_ar"]


def test_an_atom_entry_becomes_an_article():
    (entry,) = articles_from_feed(ATOM).articles
    data = entry.to_json()
    assert data["id"] == "tag-levant-example-2020-entry-77"
    assert data["body_html"] == ("<p>افتتح في ساحة البلدة معرض للكتاب المستعمل يضم "
                                 "<em>آلاف</em> العناوين بأسعار رمزية.</p>")
    assert (data["published_at"], data["updated_at"]) == (
        "2020-04-24T21:22:00+03:00", "2020-04-25T08:00:00+03:00")
    assert (data["author"], data["section"], data["site"]) == (
        "سامر الخوري", "ثقافة", "نشرة الشام")
    assert data["url"] == "https://levant.example/2020/04/book-fair"


@pytest.mark.parametrize("guid, expected", [
    ("https://x.example/ar/أخبار/2020/خبر-عاجل.html", "ar-أخبار-2020-خبر-عاجل"),
    ("https://x.example/?p=12", "x-example-p-12"),
    ("urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a", "urn-uuid-1225c695-cfb8-4ebb-aaaa-80da344efa6a"),
])
def test_ids_from_guids(guid, expected):
    assert feed_item_id(guid) == expected
    long = feed_item_id("https://x.example/" + "ب" * 300)
    assert len(long) <= 120 and long == feed_item_id("https://x.example/" + "ب" * 300)


def test_not_a_feed_is_refused():
    from service.errors import ArticleInvalid

    with pytest.raises(ArticleInvalid, match="not an RSS or Atom feed"):
        articles_from_feed(b"<html><body><p>page</p></body></html>")


def test_http_import_of_a_feed_answers_per_item_and_again_updates(client, store, tmp_path):
    answer = client.post("/articles/import", data=RSS, content_type="application/rss+xml")
    assert answer.status_code == 200, answer.data[:300]
    report = answer.get_json()
    assert (report["created"], report["failed_count"]) == (3, 2)
    assert [i["outcome"] for i in report["items"]] == ["created"] * 3
    assert {f["guid"] for f in report["failed"]} == {"gulf-item-broken", "gulf-item-bad-date"}
    # Importing again finds the same ids: nothing twice.
    again = client.post("/articles/import", data=RSS, content_type="application/rss+xml")
    assert [i["outcome"] for i in again.get_json()["items"]] == ["unchanged"] * 3
    changed = RSS.replace("افتتاح جسر جديد".encode(), "افتتاح الجسر الجديد".encode())
    third = client.post("/articles/import", data=changed, content_type="application/rss+xml")
    assert third.get_json()["items"][0] == {"id": "gulf-example-p-4411", "outcome": "updated"}
    assert store.list()[1] == 3
    # What the reader gets: the item's PDF, with its text.
    pdf = client.get("/articles/gulf-example-p-4411.pdf")
    assert pdf.status_code == 200
    printed = words(pdftotext(pdf.data, tmp_path))
    for word in words("افتتاح الجسر الجديد فوق الخور يختصر الطريق بين ضفتيه"):
        assert word in printed


def test_http_import_of_an_atom_feed(client, store):
    answer = client.post("/articles/import", data=ATOM, content_type="application/atom+xml")
    assert answer.status_code == 200
    assert answer.get_json()["items"] == [
        {"id": "tag-levant-example-2020-entry-77", "outcome": "created"}]


def test_http_import_of_a_feed_with_no_article_is_422_and_stores_nothing(client, store):
    broken = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>x</title>
        <item><guid>a</guid><description>no title</description></item></channel></rss>"""
    error = assert_error(client.post("/articles/import", data=broken,
                                     content_type="application/rss+xml"), 422, "invalid_article")
    assert error["failed"][0]["error"]["field"] == "title"
    not_feed = assert_error(client.post("/articles/import", data=b"<html><p>x</p></html>",
                                        content_type="application/rss+xml"),
                            422, "invalid_article")
    assert "RSS" in not_feed["message_en"]
    assert store.list()[1] == 0


def test_cli_imports_a_feed_file_and_lists_the_items_it_could_not(runner, store, tmp_path):
    path = tmp_path / "gulf.rss"
    path.write_bytes(RSS)
    result = runner.invoke(main, ["import", str(path)])
    assert result.exit_code == 1, result.output
    assert f"{path}: 3 created, 0 updated, 0 unchanged, 2 failed" in result.output
    assert "item 4 (gulf-item-broken): field 'title'" in result.output
    assert store.list()[1] == 3
    atom = tmp_path / "levant.feed"          # no telling extension: read from its start
    atom.write_bytes(ATOM)
    assert runner.invoke(main, ["import", str(atom)]).exit_code == 0
    assert store.get("tag-levant-example-2020-entry-77") is not None


class _FeedServer(http.server.ThreadingHTTPServer):
    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", "application/rss+xml")
                self.end_headers()
                self.wfile.write(ATOM)

            def log_message(self, *args):
                pass
        super().__init__(("127.0.0.1", 0), Handler)


def test_cli_fetches_feeds_only_from_feed_hosts_at_public_addresses(runner, monkeypatch, store):
    server = _FeedServer()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/feed/"
    try:
        refused = runner.invoke(main, ["import", "--feed", url])
        assert refused.exit_code == 1 and "MATBAA_FEED_HOSTS" in refused.output
        monkeypatch.setenv("MATBAA_FEED_HOSTS", "127.0.0.1")
        private = runner.invoke(main, ["import", "--feed", url])
        assert private.exit_code == 1 and "is not public" in private.output, private.output
    finally:
        server.shutdown()
        server.server_close()
    assert store.list()[1] == 0


def test_cli_imports_the_wordpress_sites_own_feed(runner, monkeypatch, store, wordpress_site,
                                                  client, tmp_path):
    """A real WordPress's /feed/ (RSS 2.0 with content:encoded and dc:creator), fetched
    from the operator's WordPress origin as its images are."""
    wordpress_site.new_post("خبر من الموجز", "<p>نص الخبر كما ينشره الموجز.</p>")
    monkeypatch.setenv("MATBAA_WORDPRESS_URL", wordpress_site.url)
    result = runner.invoke(main, ["import", "--feed", f"{wordpress_site.url}/?feed=rss2"])
    assert result.exit_code == 0, result.output
    (article,) = [a for a in store.list(per_page=100)[0] if a.title == "خبر من الموجز"]
    assert article.title == "خبر من الموجز"
    assert "نص الخبر كما ينشره الموجز" in article.body_html
    assert article.published_at.utcoffset() is not None
    assert article.author
    pdf = client.get(f"/articles/{article.id}.pdf")
    assert pdf.status_code == 200
    printed = words(pdftotext(pdf.data, tmp_path))
    assert all(w in printed for w in words("خبر من الموجز نص الخبر كما ينشره الموجز"))
    again = runner.invoke(main, ["import", "--feed", f"{wordpress_site.url}/?feed=rss2"])
    assert "0 created" in again.output and "0 updated" in again.output
