"""Editions: many articles as one PDF (cover, contents, bookmarks, continuous page numbers),
made as jobs over HTTP and by `matbaa edition`, archival and byte-for-byte repeatable."""

import io
import json
import time

import pikepdf
import pytest
from pypdf import PdfReader

from service.article import parse_article
from service.cli import main
from service.editions import EditionSpec, Jobs, select_articles
from service.editions.plan import in_section_order
from service.template import RenderOptions, digits
from service.verify import article_text, normalize, score_words

from ..conftest import pdffonts, pdftotext, sample
from ..test_archival import failures
from ..test_corpus import corpus_articles
from ..services import wait_until
from ..test_http import assert_error

SAMPLE_IDS = ["kuwait-coalition-meeting", "arabic-printing-history",
              "nova-digital-archive-platform"]


def outline(pdf):
    """[(section, [(article title, page number)])] from the PDF's bookmarks."""
    with pikepdf.open(io.BytesIO(pdf)) as document:
        pages = {page.objgen: number for number, page in enumerate(document.pages, 1)}
        with document.open_outline() as tree:
            return [(item.title, [(child.title, pages[child.destination[0].objgen])
                                  for child in item.children]) for item in tree.root]


def page_texts(pdf, tmp_path):
    """The text layer of every page, direction marks removed."""
    path = tmp_path / "edition.pdf"
    path.write_bytes(pdf)
    text = pdftotext(pdf, tmp_path)
    return [normalize(page) for page in text.split("\f")][:len(PdfReader(path).pages)]


def check_edition(pdf, articles, tmp_path, style="arab"):
    """Contents, bookmarks, page numbers and each article's text, as a reader would check."""
    pages = page_texts(pdf, tmp_path)
    total = len(pages)
    # Cover: no page number; every other page «صفحة n من total».
    assert "صفحة" not in pages[0]
    for number, text in enumerate(pages[1:], 2):
        assert f"صفحة {digits(str(number), style)} من {digits(str(total), style)}" in " ".join(
            text.split()), number
    marks = outline(pdf)
    starts = {title: page for _section, children in marks[1:] for title, page in children}
    assert marks[0][0] == "المحتويات"
    assert sorted(starts) == sorted(a.title for a in articles)
    assert sum(len(children) for _s, children in marks[1:]) == len(articles)
    # Each article starts on the page its bookmark points to, and the contents say so.
    contents = " ".join(" ".join(pages[1:min(starts.values()) - 1]).split())
    ordered = sorted(articles, key=lambda a: starts[a.title])
    # Each entry of the contents shows, on its (last) line, the page it starts on.
    layout = pdftotext(pdf, tmp_path, "-layout", "-f", "2", "-l",
                       str(min(starts.values()) - 1))
    lines = [normalize(line).split() for line in layout.splitlines()]
    firsts, at = [], 0
    for article in ordered:                    # each entry's first line
        while not set(normalize(article.title).split()[:2]) <= set(lines[at]):
            at += 1
        firsts.append(at)
        at += 1
    for article, first, end in zip(ordered, firsts, firsts[1:] + [firsts[-1] + 3]):
        entry = [word for line in lines[first:end] for word in line]
        assert digits(str(starts[article.title]), style) in entry, (article.title, entry)
    for index, article in enumerate(ordered):
        first = starts[article.title]
        title_words = " ".join(normalize(article.title).split()[:4])
        assert title_words in " ".join(pages[first - 1].split()), article.title
        assert title_words in contents
        last = starts[ordered[index + 1].title] - 1 if index + 1 < len(ordered) else total
        text = "\n".join(pages[first - 1:last])
        score = score_words(article_text(article), text)
        assert score.ratio >= 0.99, (article.id, score.to_json())
    return starts


def wait_for(client, location, timeout=180):
    deadline = time.monotonic() + timeout
    while True:
        status = client.get(location).get_json()
        if status["status"] in ("done", "failed") or time.monotonic() > deadline:
            return status
        time.sleep(0.2)


def test_edition_job_over_http(client, loaded_store, tmp_path):
    response = client.post("/editions", json={
        "title": "مختارات الأسبوع", "articles": SAMPLE_IDS + ["not-stored"]})
    assert response.status_code == 202, response.data[:300]
    location = response.headers["Location"]
    assert response.get_json()["status"] in ("queued", "running", "done")
    assert_error(client.get(f"{location}.pdf"), 409, "edition_not_ready")
    status = wait_for(client, location)
    assert status["status"] == "done", status
    assert status["done"] == status["total"] == 3
    assert status["errors"] == [{"id": "not-stored", "code": "article_not_found"}]
    with client.get(status["pdf"]) as pdf_response:
        assert pdf_response.status_code == 200
        pdf = pdf_response.data
    assert len(PdfReader(io.BytesIO(pdf)).pages) == status["pages"]
    assert pdf_response.headers["ETag"].strip('"') == status["sha256"]
    articles = select_articles(loaded_store, EditionSpec(title="x", ids=tuple(SAMPLE_IDS)))
    check_edition(pdf, articles, tmp_path)
    cover = page_texts(pdf, tmp_path)[0]
    assert "مختارات الأسبوع" in cover and "عدد المقالات: ٣" in cover


def test_a_job_process_with_render_processes_leaves_weasyprint_to_them(tmp_path):
    """The job process only assembles what its render processes lay out: WeasyPrint (and
    with it Pango) is not loaded there, for the memory of big editions, until an edition
    needs it there (archival ones are laid out as one document)."""
    from pathlib import Path

    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings.from_env(data_dir=tmp_path / "data", render_processes=2))
    client, store = app.test_client(), app.extensions["matbaa.store"]
    try:
        for name in SAMPLE_IDS:
            store.upsert(parse_article(sample(name)))

        def libraries(pid):
            return {Path(line.split()[-1]).name.split(".so")[0]
                    for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
                    if ".so" in line}

        def job_process(body):
            status = wait_for(client, client.post("/editions", json=body).headers["Location"])
            assert status["status"] == "done", status
            (pid,) = app.extensions["matbaa.job_runner"].executor._processes
            return pid

        pid = job_process({"title": "مختارات", "articles": SAMPLE_IDS})
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        assert len(children) == 2 and all("libpango-1.0" in libraries(c) for c in children)
        assert "libpango-1.0" not in libraries(pid)
        # An archival edition is laid out in the job process itself: loaded then.
        assert job_process({"title": "أرشيف", "articles": SAMPLE_IDS[:1],
                            "options": {"archival": True}}) == pid
        assert "libpango-1.0" in libraries(pid)
    finally:
        app.extensions["matbaa.job_runner"].close()


def test_edition_options_in_json_take_json_booleans(client, loaded_store):
    """`"archival": true` reads as JSON reads (it was 422 "must be one of: 0, 1")."""
    response = client.post("/editions", json={
        "title": "أرشيف", "articles": SAMPLE_IDS[:1],
        "options": {"archival": True, "images": False, "paper": "a5"}})
    assert response.status_code == 202, response.data[:300]
    status = wait_for(client, response.headers["Location"])
    assert status["status"] == "done", status
    with client.get(status["pdf"]) as answer:
        pdf = pikepdf.open(io.BytesIO(answer.data))
    with pdf.open_metadata() as meta:
        assert meta.get("pdfaid:part") == "3"
    width, height = (float(v) for v in pdf.pages[0].mediabox[2:])
    assert (round(width / 72 * 25.4), round(height / 72 * 25.4)) == (148, 210)


@pytest.mark.parametrize("value, parsed", [(True, "1"), (False, "0"), (1, "1"), (0, "0"),
                                           ("1", "1"), ("0", "0")])
def test_yes_no_options_as_json_or_as_the_query_writes_them(value, parsed, settings):
    spec = EditionSpec.from_json({"title": "t", "articles": ["a"],
                                  "options": {"archival": value}}, settings)
    assert spec.options == {"archival": parsed}


@pytest.mark.parametrize("options, field", [({"archival": 2}, "archival"),
                                            ({"archival": "yes"}, "archival"),
                                            ({"images": None}, "images"),
                                            ({"paper": True}, "paper")])
def test_other_json_option_values_are_refused(client, store, options, field):
    error = assert_error(client.post("/editions", json={"title": "t", "articles": ["a"],
                                                        "options": options}),
                         422, "invalid_option")
    assert error["field"] == field
    assert Jobs(store).unfinished() == []


@pytest.mark.parametrize("body,field", [
    ({"articles": ["a"]}, "title"),
    ({"title": "t"}, "articles"),
    ({"title": "t", "articles": ["a"], "filter": {}}, "articles"),
    ({"title": "t", "articles": []}, "articles"),
    ({"title": "t", "filter": {"from": "2016-13-40"}}, "filter.from"),
    ({"title": "t", "filter": {"source": "elsewhere"}}, "filter.source"),
    ({"title": "t", "articles": ["a"], "options": {"paper": "b5"}}, "paper"),
])
def test_bad_edition_requests_are_422_and_make_no_job(client, store, body, field):
    error = client.post("/editions", json=body)
    assert error.status_code == 422
    assert error.get_json()["error"]["field"] == field
    assert Jobs(store).unfinished() == []


def test_unknown_job_is_404(client):
    assert_error(client.get("/editions/" + "0" * 32), 404, "job_not_found")
    assert_error(client.get("/editions/nothing.pdf"), 404, "job_not_found")


def test_edition_of_a_corpus_section_by_filter(shared_dir, store, renderer, tmp_path):
    articles = [a for a in corpus_articles(shared_dir)]
    store.upsert_many(articles)
    spec = EditionSpec.from_json({"title": "ثقافة", "filter": {"section": "culture"}},
                                 renderer.settings)
    chosen = select_articles(store, spec)
    assert len(chosen) == sum(1 for a in articles if a.section == "culture") == 35
    dates = [a.published_at.replace(tzinfo=None) for a in chosen if a.published_at]
    assert dates == sorted(dates)
    pdf = renderer.edition_pdf(spec.title, chosen, spec.render_options(renderer.settings))
    check_edition(pdf, chosen, tmp_path)
    # A date range selects by the article's own date.
    first = min(dates).date()
    ranged = select_articles(store, EditionSpec(title="x", section="culture", start=first,
                                                end=first))
    assert ranged and all(a.published_at.date() == first for a in ranged)


def test_edition_in_parallel_parts(shared_dir, store, tmp_path, monkeypatch):
    """Laid out in parts on two render processes, then put together: a reader sees the
    same things as in one document (page numbers, contents, bookmarks, every word)."""
    from service.editions import make_edition, plan
    from service.pool import RenderPool
    from service.render import Renderer
    from service.settings import Settings

    settings = Settings.from_env(data_dir=tmp_path / "data", edition_part_articles=8)
    renderer = Renderer(settings)
    pool = RenderPool(settings, 2)
    try:
        store.upsert_many(corpus_articles(shared_dir))
        chosen = store.find(section="culture") + store.find(section="sport")[:10]
        stages, fronts, laid_out = [], [], []
        front, pages = pool.edition_front, pool.edition_pages
        monkeypatch.setattr(pool, "edition_front",
                            lambda *args: fronts.append(args) or front(*args))
        monkeypatch.setattr(pool, "edition_pages",
                            lambda *args: laid_out.extend(args[0]) or pages(*args))
        pdf = make_edition(settings, renderer, "ثقافة ورياضة", chosen,
                           renderer.default_options(), pool=pool,
                           progress=lambda stage, n: stages.append(stage))
        assert stages.count("prepared") >= 4        # parts reported as they finished
        assert len(fronts) == 1     # made while the parts were laid out, numbers laid over
        assert len(laid_out) == len(chosen)
        starts = check_edition(pdf, chosen, tmp_path)
        assert [s for s, _ in outline(pdf)[1:]] == ["culture", "sport"]
        assert max(starts.values()) <= len(PdfReader(io.BytesIO(pdf)).pages)
        # Made again: every article's pages were kept, none is laid out again.
        laid_out.clear()
        again = make_edition(settings, renderer, "ثقافة ورياضة", chosen,
                             renderer.default_options(), pool=pool)
        assert laid_out == []
        assert again == pdf                          # the same bytes
        # Each font's program once, though every article's pages were kept apart.
        # (pdffonts lists a font per article and file where their glyphs disagree.)
        names = {f["name"].split("+")[-1] for f in pdffonts(pdf, tmp_path)}
        with pikepdf.open(io.BytesIO(pdf)) as document:
            programs = {o.objgen for o in document.objects
                        if isinstance(o, pikepdf.Stream) and "/Length1" in o}
        # the front's own subsets, and one program per file for the articles
        assert len(chosen) > 20 and len(programs) <= 2 * len(names)
        # What a reader sees is the edition made as one document, page for page:
        # running headers, the contents' numbers, the footers (upright, at the foot).
        whole = renderer.edition_pdf("ثقافة ورياضة", in_section_order(chosen),
                                     renderer.default_options())
        assert same_pages(pdf, whole, tmp_path)
        assert body_text(pdf, tmp_path) == body_text(whole, tmp_path)
        # Some kept, some not: an updated article gets new pages (its kept ones are
        # stale), the others' are used; the edition is still the one document's.
        laid_out.clear()
        for i, article in enumerate(chosen):
            if i % 3 == 0:
                store.upsert(article.model_copy(update={
                    "body_html": (article.body_html or "") + "<p>فقرة أضيفت بعد النشر.</p>",
                    "paragraphs": None}))
        updated = [store.get(a.id) for a in chosen]
        assert [a.revision != b.revision for a, b in zip(chosen, updated)] == [
            i % 3 == 0 for i in range(len(chosen))]
        mixed = make_edition(settings, renderer, "ثقافة ورياضة", updated,
                             renderer.default_options(), pool=pool)
        assert sorted(a.id for a in laid_out) == sorted(a.id for i, a in enumerate(chosen)
                                                       if i % 3 == 0)
        mixed_whole = renderer.edition_pdf("ثقافة ورياضة", in_section_order(updated),
                                           renderer.default_options())
        assert same_pages(mixed, mixed_whole, tmp_path)
        assert body_text(mixed, tmp_path).count("أضيفت") == (len(chosen) + 2) // 3
        # Each entry of the contents is a link to its article's first page, over the
        # entry, where the one-document edition's links (its title's, its number's) are.
        links, whole_links = contents_links(pdf), contents_links(whole)
        assert sorted(target for _p, _r, target in links) == sorted(starts.values())
        assert {t for _p, _r, t in whole_links} == set(starts.values())
        for page, rect, target in whole_links:
            mine = [r for p, r, t in links if p == page and t == target]
            x, y = (rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2
            assert len(mine) == 1 and mine[0][0] <= x <= mine[0][2] and \
                mine[0][1] <= y <= mine[0][3], (page, rect, target, mine)

        # The page numbers made in two shares, one per render process: still right.
        shares = []
        footers = pool.edition_footers
        monkeypatch.setattr(pool, "edition_footers",
                            lambda *args: shares.append(args[2:]) or footers(*args))
        monkeypatch.setattr(plan, "FOOTER_SHARE_PAGES", 5)
        shared = make_edition(settings, renderer, "ثقافة ورياضة", chosen,
                              renderer.default_options(), pool=pool)
        assert len(shares) == 2 and shares[0][1] + 1 == shares[1][0]
        assert shares[1][1] == len(PdfReader(io.BytesIO(shared)).pages)
        assert check_edition(shared, chosen, tmp_path) == starts
    finally:
        pool.close()



def test_a_cold_edition_of_many_parts_waits_its_turn(shared_dir, store, tmp_path):
    """Many more parts than render processes: they are handed over a few at a time, not
    all queued at once against MATBAA_RENDER_QUEUE (readers' renders wait there too)."""
    from service.editions import make_edition
    from service.pool import RenderPool
    from service.render import Renderer
    from service.settings import Settings

    settings = Settings.from_env(data_dir=tmp_path / "data", edition_part_articles=1,
                                 render_queue=2)
    renderer = Renderer(settings)
    pool = RenderPool(settings, 2)
    try:
        wait_until(lambda: pool.ready == 2, 60, "the render processes started")
        store.upsert_many(corpus_articles(shared_dir))
        chosen = store.find(section="sport")[:9]
        pdf = make_edition(settings, renderer, "رياضة", chosen, renderer.default_options(),
                           pool=pool)
        check_edition(pdf, chosen, tmp_path)
    finally:
        pool.close()


def body_text(pdf, tmp_path):
    """The text poppler reads below the running heads (the top margin, print.css)."""
    return pdftotext(pdf, tmp_path, "-y", "70", "-W", "2000", "-H", "2000")


def contents_links(pdf):
    """(page, rect, page it leads to) of every link annotation, named or explicit."""
    reader = PdfReader(io.BytesIO(pdf))
    number_of = {page.indirect_reference.idnum: n for n, page in enumerate(reader.pages, 1)}
    named = {name: reader.get_destination_page_number(dest) + 1
             for name, dest in reader.named_destinations.items()}
    links = []
    for number, page in enumerate(reader.pages, 1):
        for annot in page.get("/Annots") or []:
            annot = annot.get_object()
            if annot.get("/Subtype") != "/Link":
                continue
            dest = annot["/Dest"]
            target = named[dest] if isinstance(dest, str) else number_of[dest[0].idnum]
            links.append((number, [float(v) for v in annot["/Rect"]], target))
    return links


def same_pages(pdf, other, tmp_path):
    """Whether two PDFs have the same pages, pixel for pixel at 40 dpi (grey)."""
    import subprocess

    images = []
    for name, data in (("one", pdf), ("other", other)):
        (tmp_path / f"{name}.pdf").write_bytes(data)
        subprocess.run(["pdftoppm", "-r", "40", "-gray", str(tmp_path / f"{name}.pdf"),
                        str(tmp_path / name)], check=True)
        images.append(sorted(tmp_path.glob(f"{name}-*.pgm")))
    assert len(images[0]) == len(images[1]) > 1
    different = [a.name for a, b in zip(*images) if a.read_bytes() != b.read_bytes()]
    assert not different, different
    return True


def _footer_strip(pdf, page, tmp_path):
    """Page ``page`` at 100 dpi, grey, only its bottom 22 mm (the footer's margin)."""
    import subprocess

    from PIL import Image

    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "100", "-gray", "-f", str(page), "-l", str(page),
                    "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    image = Image.open(tmp_path / "page.png").convert("L")
    return image.crop((0, image.height - round(22 / 25.4 * 100), image.width, image.height))


@pytest.mark.parametrize("paper, style", [("a4", "arab"), ("letter", "latn"), ("a5", "arab")])
def test_page_number_pages_print_where_the_footer_does(renderer, tmp_path, paper, style):
    """A parallel edition's page numbers (laid over its parts) land on the same pixels
    as the footer of an edition made as one document."""
    from PIL import ImageChops

    articles = [parse_article(sample(name)) for name in SAMPLE_IDS[:2]]
    options = RenderOptions(paper=paper, digits=style)
    whole = renderer.edition_pdf("عدد", articles, options)
    total = len(PdfReader(io.BytesIO(whole)).pages)
    label = _footer_strip(renderer.edition_footers(options, total, 3, 3), 1, tmp_path)
    footer = _footer_strip(whole, 3, tmp_path)
    assert footer.getextrema()[0] < 128, "the footer has ink"
    assert ImageChops.difference(label, footer).getbbox() is None


def test_assembly_makes_the_front_when_none_was_made(renderer, store, tmp_path):
    """A Celery job's front is made by its own task and kept in the store; should that
    task not have run, the assembly makes it: the same edition, byte for byte."""
    from service.editions.assemble import assemble
    from service.editions.plan import plan_parts

    articles = in_section_order([parse_article(sample(name)) for name in SAMPLE_IDS])
    options = renderer.default_options()
    parts = [renderer.edition_part("عدد", part, options, first, starts)
             for first, part, starts in plan_parts(articles, 2)]
    assert len(parts) == 2
    jobs = Jobs(store)
    job_id = jobs.create(EditionSpec(title="عدد", ids=tuple(SAMPLE_IDS)))
    jobs.update(job_id, status="running")
    jobs.save_front(job_id, renderer.edition_front("عدد", articles, options))
    kept = jobs.front(job_id)
    assert jobs.get(job_id)["front_pages"] == kept["pages"] >= 2
    made = assemble(renderer, "عدد", articles, options, parts, front=kept)
    assert assemble(renderer, "عدد", articles, options, parts) == made
    assert same_pages(made, renderer.edition_pdf("عدد", articles, options), tmp_path)
    # Kept only while the job runs: none left once it is done.
    jobs.save_result(job_id, made, len(PdfReader(io.BytesIO(made)).pages))
    assert jobs.front(job_id) is None
    jobs.save_front(job_id, renderer.edition_front("عدد", articles, options))
    assert jobs.front(job_id) is None

def test_job_page_numbers_made_in_shares_then_assembled(loaded_store, renderer, settings,
                                                        tmp_path, monkeypatch):
    """The Celery path's stages run in this process on SQLite: the page-number pages
    are made share by share (in any order), only the last share's task enqueues the
    assembly, and the assembly lays those over the pages without making any again:
    the same edition as one assembled from scratch."""
    from service.editions import plan
    from service.editions.assemble import assemble
    from service.editions.plan import footer_shares
    from service.editions.tasks import (assemble_job, make_front, make_overlay, overlay_count,
                                        part_pages, plan_job, run_part, stalled_after_overlays,
                                        stalled_after_parts)

    monkeypatch.setattr(plan, "FOOTER_SHARE_PAGES", 3)       # a few pages each
    settings = settings.replace(edition_part_articles=1)
    jobs = Jobs(loaded_store)
    job_id = jobs.create(EditionSpec(title="عدد", ids=tuple(SAMPLE_IDS)))
    parts = plan_job(settings, loaded_store, job_id)
    assert len(parts) == 3
    make_front(settings, loaded_store, renderer, job_id)
    last = [run_part(settings, loaded_store, renderer, job_id, part) for part in parts]
    assert last == [False, False, True]
    assert jobs.get(job_id)["status"] == "assembling"
    # Had the last part's process been lost before it handed on, its redelivered task
    # would hand on again; no share is kept, so the assembly is not due.
    assert stalled_after_parts(loaded_store, job_id)
    assert not stalled_after_overlays(loaded_store, job_id)
    shares = overlay_count(loaded_store, job_id)
    assert shares >= 3           # the contents' numbers, the footers in two shares or more
    enqueues = [make_overlay(settings, loaded_store, renderer, job_id, share)
                for share in reversed(range(shares))]
    assert enqueues == [False] * (shares - 1) + [True]
    # The assembly is enqueued: the page numbers are not due again, the assembly is
    # (for a redelivered page-number task: assembling twice is harmless).
    assert not stalled_after_parts(loaded_store, job_id)
    assert stalled_after_overlays(loaded_store, job_id)
    # Made again (a redelivered task): kept once, and no second assembly.
    assert not make_overlay(settings, loaded_store, renderer, job_id, 1)
    assert len(jobs.overlays(job_id)) == shares

    def made_again(*_args, **_kwargs):
        raise AssertionError("the assembly made page-number pages again")

    front = jobs.front(job_id)
    # The parts' tasks kept each article's pages in the store, where the assembly finds them.
    by_id = {a.id: a for a in select_articles(loaded_store, EditionSpec(title="عدد", ids=tuple(SAMPLE_IDS)))}
    kept = [part_pages(settings, loaded_store, renderer, entry,
                       [by_id[i] for i in entry["ids"]], renderer.default_options(), pdfs=True)
            for entry in json.loads(jobs.get(job_id)["plan"])]
    assert [p["pdf"] for p in jobs.parts(job_id)] == [b""] * 3    # no part PDF in the job
    with monkeypatch.context() as patch:
        patch.setattr(renderer, "edition_footers", made_again)
        patch.setattr(renderer, "edition_numbers", made_again)
        assemble_job(settings, loaded_store, renderer, job_id)
    job = jobs.get(job_id)
    assert job["status"] == "done"
    pdf = jobs.result(job_id)
    articles = in_section_order(select_articles(loaded_store, EditionSpec.from_stored(job["spec"])))
    options = renderer.default_options()

    def footers_in_shares(options, total, first, last):
        return [renderer.edition_footers(options, total, *share)
                for share in footer_shares(first, last, plan.OVERLAY_FOOTER_SHARES)]

    assert pdf == assemble(renderer, "عدد", articles, options, kept, front=front,
                           render_footers=footers_in_shares, fonts=renderer.font_files)
    assert same_pages(pdf, renderer.edition_pdf("عدد", articles, options), tmp_path)
    check_edition(pdf, articles, tmp_path)
    assert jobs.overlays(job_id) == []                  # kept only until assembled
    assert not stalled_after_overlays(loaded_store, job_id)
    assemble_job(settings, loaded_store, renderer, job_id)    # again: nothing changes
    assert jobs.result(job_id) == pdf and jobs.get(job_id)["status"] == "done"


def run_job_stages(settings, store, renderer, job_id):
    """A job's Celery stages, one after another in this process."""
    from service.editions.tasks import (assemble_job, make_front, make_overlay, overlay_count,
                                        plan_job, run_part)

    parts = plan_job(settings, store, job_id)
    make_front(settings, store, renderer, job_id)
    for part in parts:
        run_part(settings, store, renderer, job_id, part)
    for share in range(overlay_count(store, job_id)):
        make_overlay(settings, store, renderer, job_id, share)
    assemble_job(settings, store, renderer, job_id)
    return Jobs(store).result(job_id)


def test_job_parts_find_the_pages_kept_by_an_earlier_job(loaded_store, renderer, settings,
                                                         tmp_path, monkeypatch):
    """On Celery the part tasks make or find each article's pages in the store: a second
    edition of the same articles, under another title, lays none out; one of an article
    stored again since lays out that article alone."""
    settings = settings.replace(edition_part_articles=1)
    jobs = Jobs(loaded_store)
    first = run_job_stages(settings, loaded_store, renderer,
                           jobs.create(EditionSpec(title="عدد", ids=tuple(SAMPLE_IDS))))
    laid_out = []
    edition_part = renderer.edition_part

    def counted(title, articles, *args, **kwargs):     # kept pages are laid out as parts
        laid_out.extend(a.id for a in articles)
        return edition_part(title, articles, *args, **kwargs)

    monkeypatch.setattr(renderer, "edition_part", counted)
    again = run_job_stages(settings, loaded_store, renderer,
                           jobs.create(EditionSpec(title="عدد آخر", ids=tuple(SAMPLE_IDS))))
    assert laid_out == []
    assert page_texts(again, tmp_path)[2:] == page_texts(first, tmp_path)[2:]
    articles = in_section_order(select_articles(loaded_store, EditionSpec(
        title="عدد آخر", ids=tuple(SAMPLE_IDS))))
    assert same_pages(again, renderer.edition_pdf("عدد آخر", articles,
                                                  renderer.default_options()), tmp_path)
    changed = sample(SAMPLE_IDS[1])
    changed["title"] = changed["title"] + " (محدّث)"
    loaded_store.upsert(parse_article(changed))
    run_job_stages(settings, loaded_store, renderer,
                   jobs.create(EditionSpec(title="عدد", ids=tuple(SAMPLE_IDS))))
    assert laid_out == [SAMPLE_IDS[1]]


def test_archival_edition_is_pdfa_repeatable_with_sources(loaded_store, renderer):
    articles = select_articles(loaded_store, EditionSpec(title="x", ids=tuple(SAMPLE_IDS)))
    options = RenderOptions(archival="1", digits="latn")
    first = renderer.edition_pdf("أرشيف", articles, options)
    assert renderer.edition_pdf("أرشيف", articles, options) == first     # same bytes
    assert failures(first) == []
    attached = PdfReader(io.BytesIO(first)).attachments
    assert sorted(attached) == sorted(f"{a.file_stem}.json" for a in articles)
    for article in articles:
        assert json.loads(attached[f"{article.file_stem}.json"][0]) == article.to_json()
    # Another title is another edition: other bytes.
    assert renderer.edition_pdf("أرشيف ٢", articles, options) != first


def test_edition_cli(runner, loaded_store, tmp_path):
    out = tmp_path / "picks.pdf"
    result = runner.invoke(main, ["edition", "--title", "مختارات", "--id", SAMPLE_IDS[0],
                                  "--id", SAMPLE_IDS[1], "--digits", "latn", "-o", str(out)])
    assert result.exit_code == 0, result.output
    pdf = out.read_bytes()
    import hashlib
    assert (tmp_path / "picks.pdf.sha256").read_text().split()[0] == hashlib.sha256(
        pdf).hexdigest()
    articles = select_articles(loaded_store, EditionSpec(title="x", ids=tuple(SAMPLE_IDS[:2])))
    check_edition(pdf, articles, tmp_path, style="latn")
    none = runner.invoke(main, ["edition", "--title", "t", "--section", "nothing", "-o",
                                str(tmp_path / "none.pdf")])
    assert none.exit_code != 0 and "no stored article" in none.output


def test_editions_need_a_key_when_keys_are_set(tmp_path):
    from service.app import create_app
    from service.settings import Settings

    app = create_app(Settings.from_env(data_dir=tmp_path / "data", api_keys="k1"))
    client = app.test_client()
    assert_error(client.post("/editions", json={"title": "t", "articles": ["a"]}), 401,
                 "unauthorized")
    assert Jobs(app.extensions["matbaa.store"]).unfinished() == []


def test_a_store_made_before_a_jobs_column_gets_it(store, settings):
    from sqlalchemy import inspect, text

    from service.store import Store

    Jobs(store)
    with store.engine.begin() as connection:     # as the table was before front_pages
        connection.execute(text("ALTER TABLE jobs DROP COLUMN front_pages"))
    # A process started on that database (a new engine) adds the column, once.
    older = Store(settings.store_url)
    try:
        jobs = Jobs(older)
        assert "front_pages" in {c["name"] for c in inspect(older.engine).get_columns("jobs")}
        job_id = jobs.create(EditionSpec.from_json(
            {"title": "قديم", "articles": ["a"]}, settings))
        jobs.update(job_id, front_pages=3)
        assert jobs.get(job_id)["front_pages"] == 3
    finally:
        older.close()


def test_job_tables_are_made_by_the_jobs_room_alone(tmp_path, settings):
    """The store makes its own tables; the job tables are made once, by Jobs."""
    from sqlalchemy import inspect

    from service.store import Store

    store = Store(f"sqlite:///{tmp_path / 'alone.db'}")
    try:
        assert set(inspect(store.engine).get_table_names()) == {"articles", "article_sources"}
        Jobs(store)
        assert {"jobs", "job_parts", "job_fronts", "job_overlays", "job_files"} <= set(
            inspect(store.engine).get_table_names())
    finally:
        store.close()


def test_a_store_made_before_kind_and_result_were_dropped_takes_new_jobs(tmp_path, settings):
    """Stores made by earlier versions have a NOT NULL ``kind`` and a ``result`` that
    nothing writes now: they are dropped, and a new job is made and finished there."""
    from sqlalchemy import inspect, text

    from service.store import Store

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url)
    Jobs(old)
    with old.engine.begin() as connection:
        connection.execute(text("ALTER TABLE jobs ADD COLUMN kind VARCHAR(20) NOT NULL "
                                "DEFAULT 'edition'"))
        connection.execute(text("ALTER TABLE jobs ADD COLUMN result TEXT"))
    old.close()
    newer = Store(url)
    try:
        jobs = Jobs(newer)
        columns = {c["name"] for c in inspect(newer.engine).get_columns("jobs")}
        assert not columns & {"kind", "result"}
        job_id = jobs.create(EditionSpec.from_json({"title": "قديم", "articles": ["a"]},
                                                   settings))
        jobs.save_result(job_id, b"%PDF-1.7", 1)
        assert jobs.get(job_id)["status"] == "done" and jobs.result(job_id) == b"%PDF-1.7"
    finally:
        newer.close()
