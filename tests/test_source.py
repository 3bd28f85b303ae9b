"""Saved article pages (../shared/corpus/pages) become articles, chrome left behind."""

import collections
import html
import json
import re
from pathlib import Path

import lxml.html
import pytest

from service.cli import main
from service.source import article_from_page
from service.verify import article_text, words
from tests.conftest import pdftotext

CHROME = ("اضف تعليق", "أضف تعليق", "شارك", "Print Friendly", "تابعونا", "اقرأ أيضا",
          "Facebook", "Twitter", "WhatsApp")


def pages(shared_dir):
    for path in sorted((shared_dir / "corpus" / "pages").glob("*.html")):
        truth = json.loads(path.with_suffix(".truth.json").read_text(encoding="utf-8"))
        yield path, truth


def f1(expected, got):
    a, b = collections.Counter(words(expected)), collections.Counter(words(got))
    common = sum((a & b).values())
    if not common:
        return 0.0
    precision, recall = common / sum(b.values()), common / sum(a.values())
    return 2 * precision * recall / (precision + recall)


def normal(text):
    return " ".join(html.unescape(text).split())


def test_corpus_pages(shared_dir):
    rows = []
    for path, truth in pages(shared_dir):
        page = path.read_text(encoding="utf-8", errors="replace")
        article = article_from_page(page, truth.get("url"))
        text = article_text(article)
        row = {"page": path.stem}
        if truth.get("title"):
            row["title"] = normal(article.title) == normal(truth["title"])
        if truth.get("date"):
            row["date"] = article.published_at is not None and \
                article.published_at.date().isoformat() == truth["date"]
        if truth.get("body"):
            row["f1"] = round(f1(truth["body"], text), 3)
        row["chrome"] = [c for c in CHROME if re.search(rf"(?<!\w){re.escape(c)}(?!\w)", text)
                         and c not in truth.get("body", "")]
        rows.append(row)
    print("\n" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    assert len(rows) == 6
    assert all(r.get("title", True) for r in rows), rows
    assert all(r.get("date", True) for r in rows), rows
    assert all(r.get("f1", 1) >= 0.9 for r in rows), rows
    assert not any(r["chrome"] for r in rows), rows


def test_a_page_that_states_no_date_gets_none(shared_dir):
    """The CNN page (3 August 2013, written nowhere in it but as «8/3» in its address)
    is not given a guessed date: 1 January 2013, from the year alone, was printed."""
    path = shared_dir / "corpus" / "pages" / "cnn-arabic-2013.html"
    truth = json.loads(path.with_suffix(".truth.json").read_text(encoding="utf-8"))
    article = article_from_page(path.read_text(encoding="utf-8", errors="replace"), truth["url"])
    assert article.published_at is None


def test_tags_are_single_terms_each_once(shared_dir):
    tags = {}
    for path, truth in pages(shared_dir):
        page = path.read_text(encoding="utf-8", errors="replace")
        tags[path.stem] = article_from_page(page, truth.get("url")).tags
    assert tags["lbc-2026"] == ["news", "lbci", "أخبار"]        # one string «news , lbci , أخبار»
    assert tags["youm7-2024-labour"] == [                       # that string, then its terms
        "وزارة العمل", "العمالة المصرية بالخارج", "فرص عمل بالخارج", "وزير العمل"]
    for stem, found in tags.items():
        assert len(found) == len(set(found)), (stem, found)     # elbaladtv gave each twice
        assert not any("," in t or "،" in t for t in found), (stem, found)


def test_id_from_an_address_with_harakat_keeps_its_words():
    url = ("https://news.example/lifestyle/898682/"
           "%D8%B4%D8%B9%D8%B1-%D9%88%D8%B1%D8%AF%D9%8A-%D9%8A%D9%8F%D8%B4%D8%B9%D9%84/ar")
    page = "<html><body><article><h1>شعر وردي</h1><p>" + "نص المقال. " * 40 + \
        "</p></article></body></html>"
    assert article_from_page(page, url).id == "شعر-وردي-يشعل"     # not «ي-شعل»


def test_http_import_stores_and_answers_201(client, store, shared_dir):
    path, truth = next(p for p in pages(shared_dir) if p[0].stem == "elbaladtv-2020-wp")
    response = client.post(f"/articles/import?url={truth['url']}", data=path.read_bytes(),
                           content_type="text/html; charset=utf-8")
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    article = response.get_json()
    assert article["title"] == truth["title"]
    assert response.headers["Location"].endswith(".pdf")
    assert store.get(article["id"]).title == truth["title"]
    assert client.get(response.headers["Location"]).status_code == 200


def test_http_import_errors(client, store):
    assert client.post("/articles/import", json={"x": 1}).status_code == 415
    empty = client.post("/articles/import", data=b"<html><body><nav>menu</nav></body></html>",
                        content_type="text/html")
    assert empty.status_code == 422
    assert store.list()[1] == 0


def test_cli_imports_a_saved_page(runner, shared_dir, app):
    path, truth = next(p for p in pages(shared_dir) if p[0].stem == "lbc-2026")
    result = runner.invoke(main, ["import", str(path), "--url", truth["url"]])
    assert result.exit_code == 0, result.output
    assert "1 created" in result.output


RESOURCES = Path(__file__).parent / "resources" / "pages"


@pytest.mark.parametrize("page, published, headline", [
    # The date in article:published_time, written out in Arabic (as Egyptian sites do),
    # and again in a date line above the text.
    ("egypt-meta-date", "2020-10-07T12:09:00", "افتتاح مكتبة عامة جديدة في حي شبرا"),
    # No date in any meta field: only a byline «تم نشره …» with two months joined.
    ("jordan-byline-date", "2020-04-24T21:22:00", "موسم قطاف الزيتون يبدأ مبكراً في عجلون"),
])
def test_arabic_dates_and_a_body_without_the_pages_headline(page, published, headline,
                                                           client, store, tmp_path):
    html_bytes = (RESOURCES / f"{page}.html").read_bytes()
    response = client.post(f"/articles/import?url=https://news.example/{page}",
                           data=html_bytes, content_type="text/html; charset=utf-8")
    assert response.status_code == 201, response.get_data(as_text=True)[:300]
    article = response.get_json()
    assert article["published_at"] == published
    assert article["title"] == headline
    assert headline not in article["body_html"]
    assert "2020" not in lxml.html.fromstring(article["body_html"]).text_content()
    # What the reader gets: the headline printed once, the date once (the template's).
    pdf = client.get(response.headers["Location"])
    assert pdf.status_code == 200
    printed, wanted = words(pdftotext(pdf.data, tmp_path)), words(headline)
    assert sum(printed[i:i + len(wanted)] == wanted for i in range(len(printed))) == 1
    assert printed.count("٢٠٢٠") == 1, printed      # the date the template prints


def test_a_sites_zone_for_a_pages_date(shared_dir):
    from service.dates import zone

    page = (RESOURCES / "jordan-byline-date.html").read_text(encoding="utf-8")
    article = article_from_page(page, "https://news.example/a", timezone=zone("Asia/Amman"))
    assert article.published_at.isoformat() == "2020-04-24T21:22:00+03:00"
