"""Kept pages (service/editions/kept.py): laid out ahead after an article is stored,
found by the editions that print it, and made again when it changes."""

import pytest

from service.app import create_app
from service.editions import make_edition
from service.editions.kept import FolderPages, page_key
from service.settings import Settings

from ..conftest import pdftotext, sample

SEEDS = ("kuwait-coalition-meeting", "arabic-printing-history")


def counting(renderer, monkeypatch):
    laid_out = []
    pages = renderer.edition_pages
    monkeypatch.setattr(renderer, "edition_pages",
                        lambda *args: laid_out.extend(a.id for a in args[0]) or pages(*args))
    return laid_out


@pytest.mark.parametrize("keep", ["1", "0"])
def test_a_stored_article_has_its_edition_pages_kept_ahead(tmp_path, monkeypatch, keep):
    settings = Settings.from_env(data_dir=tmp_path / "data", keep_edition_pages=keep,
                                 render_processes=1)   # laid out here, counted
    app = create_app(settings)
    client, renderer = app.test_client(), app.extensions["matbaa.renderer"]
    store, cache = app.extensions["matbaa.store"], app.extensions["matbaa.cache"]
    for name in SEEDS:
        assert client.put(f"/articles/{name}", json=sample(name)).status_code == 201
    app.extensions["matbaa.prerenders"].join()
    options = renderer.default_options()
    articles = [store.get(name) for name in SEEDS]
    kept = FolderPages(cache)
    # Both ways an edition may print it: opening its section, and not.
    found = [kept.get(page_key(renderer, a, options, opens)) is not None
             for a in articles for opens in (False, True)]
    assert found == [keep == "1"] * 4
    laid_out = counting(renderer, monkeypatch)
    pdf = make_edition(settings, renderer, "عدد", articles, options, kept=kept)
    assert laid_out == ([] if keep == "1" else [a.id for a in articles])
    assert "الكويت" in pdftotext(pdf, tmp_path)


def test_an_updated_article_is_laid_out_again(tmp_path, monkeypatch):
    settings = Settings.from_env(data_dir=tmp_path / "data", render_processes=1)
    app = create_app(settings)
    client, renderer = app.test_client(), app.extensions["matbaa.renderer"]
    store = app.extensions["matbaa.store"]
    data = sample(SEEDS[0])
    client.put(f"/articles/{SEEDS[0]}", json=data)
    app.extensions["matbaa.prerenders"].join()
    data["title"] = data["title"] + " (محدّث)"
    assert client.put(f"/articles/{SEEDS[0]}", json=data).status_code == 200
    laid_out = counting(renderer, monkeypatch)
    app.extensions["matbaa.prerenders"].join()       # the new revision's pages, ahead
    assert laid_out == [SEEDS[0], SEEDS[0]]
    laid_out.clear()
    pdf = make_edition(settings, renderer, "عدد", [store.get(SEEDS[0])],
                       renderer.default_options())
    assert laid_out == [] and "محدّث" in pdftotext(pdf, tmp_path)


def test_kept_pages_are_read_one_at_a_time_and_made_again_if_gone(tmp_path, monkeypatch):
    """An edition counts its kept pages first and reads each article's PDF only as it
    takes it (an edition of thousands never holds them all); one evicted in between is
    laid out again, and the edition is the same."""
    settings = Settings.from_env(data_dir=tmp_path / "data", render_processes=1)
    app = create_app(settings)
    client, renderer = app.test_client(), app.extensions["matbaa.renderer"]
    store, cache = app.extensions["matbaa.store"], app.extensions["matbaa.cache"]
    names = (*SEEDS, "nova-digital-archive-platform")
    for name in names:
        assert client.put(f"/articles/{name}", json=sample(name)).status_code == 201
    app.extensions["matbaa.prerenders"].join()
    options = renderer.default_options()
    articles = [store.get(name) for name in names]
    first = make_edition(settings, renderer, "عدد", articles, options)

    held = {"now": 0, "most": 0}

    class Held(bytes):
        def __new__(cls, data):
            held["now"] += 1
            held["most"] = max(held["most"], held["now"])
            return super().__new__(cls, data)

        def __del__(self):
            held["now"] -= 1

    gone = []

    class Evicting(FolderPages):
        def get(self, key):
            found = super().get(key)
            return found and (Held(found[0]), found[1])

        def pages(self, key):
            count = super().pages(key)
            if not gone:              # evicted just after it was counted
                gone.append(key)
                self.cache._delete(key)
            return count

    laid_out = counting(renderer, monkeypatch)
    again = make_edition(settings, renderer, "عدد", articles, options, kept=Evicting(cache))
    assert again == first
    assert held["most"] == 1
    assert len(gone) == 1 and len(laid_out) == 1
