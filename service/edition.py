"""Edition: many stored articles as one PDF, made as a job.

``POST /editions`` and ``matbaa edition`` describe an edition (a title and
article ids, or a filter: section, from, to, source), the articles are
selected from the store, and ``Renderer.edition_pdf`` lays them out as one
document.  Jobs are rows in the store, so their status and progress can be
read by any web process; by default they run in a local worker process
(MATBAA_JOB_PROCESSES), with MATBAA_BROKER_URL on Celery workers.
"""

import hashlib
import json
import logging
import uuid
import weakref
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import NamedTuple

from sqlalchemy import (DateTime, Integer, LargeBinary, String, Text, inspect, select, text,
                        update)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column

from .errors import ArticleInvalid, MatbaaError
from .store import Base
from .template import RenderOptions

log = logging.getLogger(__name__)

MAX_TITLE = 300


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), index=True)
    spec: Mapped[str] = mapped_column(Text)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[str] = mapped_column(Text, default="[]")
    result: Mapped[str | None] = mapped_column(Text)
    sha256: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[str | None] = mapped_column(Text)      # parts, for jobs run on Celery
    # The cover and contents' length, set when they are made beside the parts (Celery
    # jobs; the front itself is in job_fronts until the edition is put together).
    front_pages: Mapped[int | None] = mapped_column(Integer)
    # Set (1) by the task that saved the last page-number share, in one conditional
    # UPDATE: only that task enqueues the assembly.
    assembly_queued: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class JobPartRow(Base):
    """A laid-out part of an edition, kept until the edition is put together."""

    __tablename__ = "job_parts"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    part: Mapped[int] = mapped_column(Integer, primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pages: Mapped[int] = mapped_column(Integer)
    starts: Mapped[str] = mapped_column(Text)
    articles: Mapped[int] = mapped_column(Integer)


class JobFrontRow(Base):
    """An edition's cover and contents, made beside its parts (``Renderer.edition_front``),
    kept until the edition is put together."""

    __tablename__ = "job_fronts"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)
    pages: Mapped[int] = mapped_column(Integer)
    contents_page: Mapped[int] = mapped_column(Integer)
    rooms: Mapped[str] = mapped_column(Text)


class JobOverlayRow(Base):
    """A share of an edition's page-number pages (its footers, its contents' numbers),
    made by a task of its own after the parts, kept until the edition is put together."""

    __tablename__ = "job_overlays"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    share: Mapped[int] = mapped_column(Integer, primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


class JobFileRow(Base):
    """A finished edition's PDF, in the database: every web process, on any machine,
    can serve it."""

    __tablename__ = "job_files"

    job_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


@dataclass(frozen=True)
class EditionSpec:
    title: str
    ids: tuple = ()
    section: str | None = None
    start: date | None = None
    end: date | None = None
    source: str | None = None
    options: dict = field(default_factory=dict)

    @classmethod
    def from_json(cls, data, settings):
        """Validate a request body; raises ArticleInvalid naming the field."""
        if not isinstance(data, dict):
            raise ArticleInvalid("(root)", "must be a JSON object", "يجب أن يكون الطلب كائن JSON")
        title = data.get("title")
        if not isinstance(title, str) or not title.strip() or len(title) > MAX_TITLE:
            raise ArticleInvalid("title", f"a non-empty text of at most {MAX_TITLE} characters",
                                 "الحقل «title»: عنوان النسخة مطلوب")
        ids = data.get("articles")
        query = data.get("filter")
        if (ids is None) == (query is None):
            raise ArticleInvalid("articles", "give either 'articles' (ids) or 'filter'",
                                 "أرسل «articles» أو «filter»، لا كليهما ولا أياً منهما")
        if ids is not None:
            if (not isinstance(ids, list) or not ids or len(ids) > settings.max_edition_articles
                    or not all(isinstance(i, str) and i.strip() for i in ids)):
                raise ArticleInvalid(
                    "articles", f"a list of 1 to {settings.max_edition_articles} article ids; "
                    "raise MATBAA_MAX_EDITION_ARTICLES for more",
                    "الحقل «articles»: قائمة معرّفات المقالات")
            return cls(title=title.strip(), ids=tuple(dict.fromkeys(ids)),
                       options=_options(data.get("options"), settings))
        if not isinstance(query, dict):
            raise ArticleInvalid("filter", "must be an object", "الحقل «filter» يجب أن يكون كائناً")
        section = query.get("section")
        if section is not None and not isinstance(section, str):
            raise ArticleInvalid("filter.section", "must be a text", "الحقل «filter.section» نص")
        source = query.get("source")
        if source not in (None, "wordpress", "local"):
            raise ArticleInvalid("filter.source", "must be 'wordpress' or 'local'",
                                 "الحقل «filter.source»: wordpress أو local")
        return cls(title=title.strip(), section=section or None, source=source,
                   start=_date(query, "from"), end=_date(query, "to"),
                   options=_options(data.get("options"), settings))

    def to_json(self):
        data = asdict(self)
        for key in ("start", "end"):
            data[key] = data[key].isoformat() if data[key] else None
        data["ids"] = list(self.ids)
        return data

    @classmethod
    def from_stored(cls, data):
        data = dict(data)
        for key in ("start", "end"):
            data[key] = date.fromisoformat(data[key]) if data[key] else None
        data["ids"] = tuple(data["ids"])
        return cls(**data)

    def render_options(self, settings):
        return RenderOptions(**{"paper": settings.paper, "digits": settings.digits,
                                **self.options})


def _date(query, key):
    value = query.get(key)
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ArticleInvalid(f"filter.{key}", "must be a date, YYYY-MM-DD",
                             f"الحقل «filter.{key}»: تاريخ بصيغة YYYY-MM-DD") from None


def _options(options, settings):
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ArticleInvalid("options", "must be an object", "الحقل «options» يجب أن يكون كائناً")
    parsed = RenderOptions.from_query({k: str(v) for k, v in options.items()}, settings)
    return {k: v for k, v in asdict(parsed).items() if k in options}


def select_articles(store, spec):
    if spec.ids:
        return store.find(ids=spec.ids)
    return store.find(section=spec.section, start=spec.start, end=spec.end, source=spec.source)


# -- jobs --------------------------------------------------------------------------


def _now():
    return datetime.now(timezone.utc)


# Engines whose job tables are known to be there, with every column.
_SCHEMA_READY = weakref.WeakSet()


def _prepare_schema(engine):
    Base.metadata.create_all(engine, tables=[
        JobRow.__table__, JobPartRow.__table__, JobFrontRow.__table__, JobOverlayRow.__table__,
        JobFileRow.__table__])
    # A store made before a column was added gets it (nullable: old rows need nothing).
    columns = {c["name"] for c in inspect(engine).get_columns("jobs")}
    for column in JobRow.__table__.columns:
        if column.name not in columns:
            type_ = column.type.compile(engine.dialect)
            try:
                with engine.begin() as connection:
                    connection.execute(
                        text(f"ALTER TABLE jobs ADD COLUMN {column.name} {type_}"))
            except DBAPIError:
                # Another process starting at the same moment added it first.
                added = {c["name"] for c in inspect(engine).get_columns("jobs")}
                if column.name not in added:
                    raise


class Jobs:
    """Job records in the store's database."""

    def __init__(self, store):
        self.store = store
        if store.engine not in _SCHEMA_READY:      # once per engine, not per task
            _prepare_schema(store.engine)
            _SCHEMA_READY.add(store.engine)

    def create(self, kind, spec):
        job_id = uuid.uuid4().hex
        with self.store._session() as session:
            session.add(JobRow(id=job_id, kind=kind, status="queued",
                               spec=json.dumps(spec.to_json(), ensure_ascii=False),
                               done=0, total=0, pages=0, errors="[]", created_at=_now(),
                               updated_at=_now()))
            session.commit()
        return job_id

    def get(self, job_id):
        with self.store._session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                return None
            data = {c.name: getattr(row, c.name) for c in JobRow.__table__.columns}
        data["spec"] = json.loads(data["spec"])
        data["errors"] = json.loads(data["errors"])
        return data

    def update(self, job_id, **fields):
        with self.store._session() as session:
            row = session.get(JobRow, job_id)
            for name, value in fields.items():
                setattr(row, name, json.dumps(value, ensure_ascii=False)
                        if name == "errors" else value)
            row.updated_at = _now()
            session.commit()

    def delete(self, job_id):
        with self.store._session() as session:
            for model in (JobFileRow, JobPartRow, JobFrontRow, JobOverlayRow):
                session.query(model).filter_by(job_id=job_id).delete()
            session.query(JobRow).filter_by(id=job_id).delete()
            session.commit()

    def save_result(self, job_id, pdf, pages):
        digest = hashlib.sha256(pdf).hexdigest()
        with self.store._session() as session:
            session.merge(JobFileRow(job_id=job_id, pdf=pdf))
            session.query(JobPartRow).filter_by(job_id=job_id).delete()
            session.query(JobFrontRow).filter_by(job_id=job_id).delete()
            session.query(JobOverlayRow).filter_by(job_id=job_id).delete()
            row = session.get(JobRow, job_id)
            row.status, row.sha256, row.pages, row.done = "done", digest, pages, row.total
            row.result, row.updated_at = "database", _now()
            session.commit()
        return digest

    def result(self, job_id):
        with self.store._session() as session:
            row = session.get(JobFileRow, job_id)
            return None if row is None else row.pdf

    def save_part(self, job_id, part, result, articles):
        """Keep a laid-out part (again, if a redelivered task made it twice); return
        how many articles are laid out and how many parts are done."""
        with self.store._session() as session:
            session.merge(JobPartRow(job_id=job_id, part=part, pdf=result["pdf"],
                                     pages=result["pages"], articles=articles,
                                     starts=json.dumps(result["starts"])))
            session.commit()
        # Counted after the commit, in a transaction of its own: of two parts saved at
        # the same moment, each counting inside its own transaction saw only itself,
        # and no one enqueued the assembly (seen under CI).  Now the one that commits
        # last sees both.
        with self.store._session() as session:
            rows = session.query(JobPartRow.articles).filter_by(job_id=job_id).all()
            done = sum(r[0] for r in rows)
            session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.done < done)
                            .values(done=done, updated_at=_now()))
            session.commit()
            return done, len(rows)

    def parts(self, job_id):
        with self.store._session() as session:
            rows = session.query(JobPartRow).filter_by(job_id=job_id).order_by(
                JobPartRow.part).all()
            return [{"pdf": r.pdf, "pages": r.pages,
                     "starts": {int(k): v for k, v in json.loads(r.starts).items()}}
                    for r in rows]

    def part_layout(self, job_id):
        """The parts' page counts and article starts, without their PDFs."""
        with self.store._session() as session:
            rows = session.query(JobPartRow.pages, JobPartRow.starts).filter_by(
                job_id=job_id).order_by(JobPartRow.part).all()
            return [{"pages": pages, "starts": {int(k): v for k, v in json.loads(starts).items()}}
                    for pages, starts in rows]

    def save_overlay(self, job_id, share, pdf):
        """Keep a share of the page-number pages; return how many shares are kept
        (counted after the commit, as parts are)."""
        with self.store._session() as session:
            session.merge(JobOverlayRow(job_id=job_id, share=share, pdf=pdf))
            session.commit()
        return self.overlay_count(job_id)

    def overlay_count(self, job_id):
        with self.store._session() as session:
            return session.query(JobOverlayRow).filter_by(job_id=job_id).count()

    def overlays(self, job_id):
        with self.store._session() as session:
            rows = session.query(JobOverlayRow).filter_by(job_id=job_id).order_by(
                JobOverlayRow.share).all()
            return [r.pdf for r in rows]

    def claim_assembly(self, job_id):
        """True for the one caller that marks the job's assembly as enqueued."""
        with self.store._session() as session:
            moved = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.status == "assembling",
                JobRow.assembly_queued.is_(None)).values(
                assembly_queued=1, updated_at=_now())).rowcount
            session.commit()
            return moved == 1

    def save_front(self, job_id, front):
        with self.store._session() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.status not in ("running", "assembling"):
                return          # done (the assembly made its own front) or gone
            session.merge(JobFrontRow(job_id=job_id, pdf=front["pdf"], pages=front["pages"],
                                      contents_page=front["contents_page"],
                                      rooms=json.dumps(front["rooms"])))
            row.front_pages, row.updated_at = front["pages"], _now()
            session.commit()

    def front(self, job_id, pdf=True):
        """The kept front, or None; ``pdf=False``: only where its numbers go."""
        columns = [JobFrontRow.pages, JobFrontRow.contents_page, JobFrontRow.rooms]
        with self.store._session() as session:
            row = session.execute(select(*columns, *([JobFrontRow.pdf] if pdf else []))
                                  .where(JobFrontRow.job_id == job_id)).first()
            if row is None:
                return None
            front = {"pages": row.pages, "contents_page": row.contents_page,
                     "rooms": {int(k): v for k, v in json.loads(row.rooms).items()}}
            if pdf:
                front["pdf"] = row.pdf
            return front

    def claim(self, job_id, from_status, to_status):
        """Move a job from one status to another, once: True for the one caller that did."""
        with self.store._session() as session:
            moved = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.status == from_status).values(
                status=to_status, updated_at=_now())).rowcount
            session.commit()
            return moved == 1

    def unfinished(self):
        with self.store._session() as session:
            return list(session.scalars(select(JobRow.id).where(
                JobRow.status.in_(["queued", "running"]))))


def _page_count(pdf):
    import io

    import pikepdf

    with pikepdf.open(io.BytesIO(pdf)) as document:
        return len(document.pages)


def run_edition(settings, store, renderer, job_id):
    """Make one edition job's PDF (in whichever process runs jobs)."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    spec = EditionSpec.from_stored(job["spec"])
    jobs.update(job_id, status="running")
    try:
        articles = select_articles(store, spec)
        errors = [{"id": i, "code": "article_not_found"} for i in spec.ids
                  if i not in {a.id for a in articles}]
        if not articles:
            raise ArticleInvalid("articles", "no stored article matches",
                                 "لا توجد مقالات مطابقة")
        jobs.update(job_id, total=len(articles), errors=errors)

        def progress(stage, count):
            # "prepared" counts articles turned into HTML; "laid-out" gives the pages.
            if stage == "laid-out":
                jobs.update(job_id, done=len(articles), pages=count)
            elif count % 25 == 0:
                jobs.update(job_id, done=count)

        pdf = make_edition(settings, renderer, spec.title, articles,
                           spec.render_options(settings), progress=progress)
        jobs.save_result(job_id, pdf, _page_count(pdf))
    except MatbaaError as exc:
        jobs.update(job_id, status="failed", errors=[{"code": exc.code,
                                                      "message_en": exc.message_en,
                                                      "message_ar": exc.message_ar}])
    except Exception as exc:
        log.exception("edition job %s failed", job_id)
        jobs.update(job_id, status="failed", errors=[{
            "code": "internal_error", "message_en": f"failed ({exc.__class__.__name__})",
            "message_ar": "حدث خطأ داخلي"}])


def make_edition(settings, renderer, title, articles, options, progress=None, pool=None):
    """The one way editions are made: in parallel parts on render processes when it pays
    (MATBAA_RENDER_PROCESSES > 1, more than MATBAA_EDITION_PART_ARTICLES articles, not
    archival), else as one document."""
    pool = pool or renderer.pool or _job_pool(settings)
    if (pool is None or options.archival == "1"
            or len(articles) <= settings.edition_part_articles):
        return renderer.edition_pdf(title, in_section_order(articles), options,
                                    progress=progress)
    parts = min(pool.size * 2, -(-len(articles) // settings.edition_part_articles))

    def render_part(first, part_articles, starts):
        return pool.edition_part(title, part_articles, options, first, starts)

    def render_footers(options, total, first, last):
        # The page-number pages in one share per render process, side by side.
        from concurrent.futures import ThreadPoolExecutor

        shares = footer_shares(first, last, pool.size)
        with ThreadPoolExecutor(max_workers=len(shares)) as executor:
            return list(executor.map(
                lambda share: pool.edition_footers(options, total, *share), shares))

    return parallel_edition(renderer, title, articles, options, render_part, parts,
                            progress=progress, render_footers=render_footers)


def _job_pool(settings):
    """Render processes for editions in this (job or CLI) process, started once."""
    if settings.render_processes < 2:
        return None
    if "pool" not in _PROCESS_STATE:
        from .pool import RenderPool

        _PROCESS_STATE["pool"] = RenderPool(settings, settings.render_processes)
    return _PROCESS_STATE["pool"]


def write_with_sha256(path, data):
    """Write ``data`` to ``path`` (atomically) and its SHA-256 to ``path.sha256``."""
    path = Path(path)
    digest = hashlib.sha256(data).hexdigest()
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    path.with_name(path.name + ".sha256").write_text(f"{digest}  {path.name}\n",
                                                     encoding="utf-8")
    return digest


# -- the local job runner --------------------------------------------------------------


class LocalJobs:
    """Jobs run one at a time in a worker process of their own (spawned, warm on first use)."""

    def __init__(self, settings):
        from concurrent.futures import ProcessPoolExecutor
        import multiprocessing

        self.settings = settings
        self.executor = ProcessPoolExecutor(
            max_workers=settings.job_processes, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, job_id):
        return self.executor.submit(_run_job, self.settings, job_id)

    def close(self):
        self.executor.shutdown(wait=False, cancel_futures=True)


_PROCESS_STATE = {}


def _run_job(settings, job_id):
    from .render import Renderer
    from .store import Store

    # One store and renderer per job process, reused by the jobs it runs.
    if "renderer" not in _PROCESS_STATE:
        logging.basicConfig(level=settings.log_level)
        logging.getLogger("weasyprint.progress").setLevel(logging.WARNING)
        _PROCESS_STATE["store"] = Store(settings.store_url)
        _PROCESS_STATE["renderer"] = Renderer(settings)
    run_edition(settings, _PROCESS_STATE["store"], _PROCESS_STATE["renderer"], job_id)


# -- editions made in parallel -----------------------------------------------------------
#
# One document laid out in one process takes ~0.05 s a page: 300 articles, 15 s.
# In parallel the articles are cut into parts laid out side by side (render
# processes, or Celery workers), then put together: a cover and contents made
# with the page numbers the parts found, «صفحة x من y» laid over every page, and
# the bookmarks.  Archival editions stay one document (PDF/A is kept whole).


def in_section_order(articles):
    """Articles grouped by section, sections in the order of their first article."""
    from .template import section_name

    groups = {}
    for article in articles:
        groups.setdefault(section_name(article), []).append(article)
    return [article for group in groups.values() for article in group]


def plan_parts(articles, parts):
    """Cut (ordered) articles into about ``parts`` parts of similar length.

    Returns [(first index, articles, indices that begin a section)], indices
    counted from 1 over the whole edition.
    """
    from .template import section_name

    weights = [len(a.body_html or "") + sum(len(p) for p in a.paragraphs or ()) + 2000
               for a in articles]
    target = sum(weights) / max(1, parts)
    plan, current, weight, first = [], [], 0, 1
    seen = set()
    starts = set()
    for index, (article, size) in enumerate(zip(articles, weights), 1):
        name = section_name(article)
        if name not in seen:
            seen.add(name)
            starts.add(index)
        if current and weight + size / 2 > target and len(plan) < parts - 1:
            plan.append((first, current, sorted(i for i in starts if first <= i < index)))
            current, weight, first = [], 0, index
        current.append(article)
        weight += size
    if current:
        plan.append((first, current, sorted(i for i in starts if i >= first)))
    return plan


def assemble(renderer, title, articles, options, parts, render_footers=None, front=None,
             overlays=None):
    """Put laid-out parts together: front matter, page numbers, bookmarks. Returns bytes.

    ``parts``: the results of ``Renderer.edition_part``, in order.
    ``render_footers(options, total, first, last)``: PDFs (a list, in order) of the
    page-number pages ``first``..``last``; by default made here in one document.
    ``front``: the cover and contents (``Renderer.edition_front``), made while the
    parts were laid out; made here when not given.  Their page numbers (the
    contents' and the footers) are laid over them here, as the parts' are.
    ``overlays``: those page-number pages, made already (Celery's overlay tasks):
    the contents' numbers, then the footers' PDFs in order.
    """
    import io
    from concurrent.futures import ThreadPoolExecutor

    import pikepdf

    from .template import section_name

    if front is None:
        front = renderer.edition_front(title, articles, options)
    if render_footers is None:
        def render_footers(options, total, first, last):
            return [renderer.edition_footers(options, total, first, last)]
    total, numbers, placed, first_footer = placement(front, parts)
    if overlays is not None:
        numbers_pdf, made = overlays[0], overlays[1:]
    else:
        with ThreadPoolExecutor(max_workers=1) as executor:
            footers_made = executor.submit(render_footers, options, total, first_footer, total)
            numbers_pdf = renderer.edition_numbers(options, front["pages"], placed)
            made = footers_made.result()
    footer_pdfs = [pikepdf.open(io.BytesIO(pdf)) for pdf in made]   # open while used
    footers = [page for pdf in footer_pdfs for page in pdf.pages]
    number_pages = pikepdf.open(io.BytesIO(numbers_pdf))
    edition = pikepdf.open(io.BytesIO(front["pdf"]))
    for part in parts:
        edition.pages.extend(pikepdf.open(io.BytesIO(part["pdf"])).pages)
    for number in range(total):
        # By hand, not Page.add_overlay: that picks a new random resource name each
        # time, and the same edition must give the same bytes.  One name per page:
        # the pages of a part share one resource dictionary.
        layers = []
        if number + 1 in placed:
            layers.append(number_pages.pages[number])
        if number + 1 >= first_footer:
            layers.append(footers[number + 1 - first_footer])
        page = edition.pages[number]
        if layers:
            # WeasyPrint's pages turn the y axis downwards (a `cm` outside any q/Q);
            # an overlay drawn after that would come out upside down at the top.
            page.contents_add(pikepdf.Stream(edition, b"q"), prepend=True)
            page.contents_add(pikepdf.Stream(edition, b"Q"), prepend=False)
        for layer, overlay in enumerate(layers):
            name = f"/MatbaaPage{number + 1}" + ("" if layer == len(layers) - 1 else "n")
            form = edition.copy_foreign(overlay.as_form_xobject())
            page.add_resource(form, pikepdf.Name.XObject, pikepdf.Name(name))
            page.contents_add(pikepdf.Stream(edition, f"q {name} Do Q".encode()),
                              prepend=False)
    _link_contents(edition, front["rooms"], numbers)
    with edition.open_outline() as outline:
        outline.root.clear()
        outline.root.append(pikepdf.OutlineItem("المحتويات", first_footer - 1))
        current = None
        for index, article in enumerate(articles, 1):
            name = section_name(article)
            page = numbers[index] - 1
            if current is None or current.title != name:
                current = pikepdf.OutlineItem(name, page)
                outline.root.append(current)
            current.children.append(pikepdf.OutlineItem(article.title, page))
    out = io.BytesIO()
    edition.save(out, deterministic_id=True)
    return out.getvalue()


def _link_contents(edition, rooms, numbers):
    """Make each entry of the contents a link to its article's first page, as the
    contents of an edition laid out as one document are (there WeasyPrint makes them
    from the entries' <a href>; a front laid out apart from the parts has no page to
    point to yet)."""
    import pikepdf

    for index, room in sorted(rooms.items()):
        if len(room) < 5:        # a front kept by an earlier version: no links, as then
            continue
        page_number, left, bottom, top, right = room
        page = edition.pages[page_number - 1]
        height = float(page.mediabox[3])
        # CSS px from the top left corner → PDF points from the bottom left (1 px = 0.75 pt).
        rect = [round(left * 0.75, 3), round(height - bottom * 0.75, 3),
                round(right * 0.75, 3), round(height - top * 0.75, 3)]
        link = edition.make_indirect(pikepdf.Dictionary(
            Type=pikepdf.Name.Annot, Subtype=pikepdf.Name.Link, Rect=rect,
            Border=[0, 0, 0], F=4,
            Dest=[edition.pages[numbers[index] - 1].obj, pikepdf.Name.Fit]))
        if pikepdf.Name.Annots not in page.obj:
            page.obj.Annots = pikepdf.Array()
        page.obj.Annots.append(link)


def placement(front, parts):
    """Where an edition's page numbers go, once its front and parts are laid out.

    Returns the page count, each article's first page (by its index in the
    edition), the numbers to lay over the contents ({page: [(left, bottom,
    number)]}) and the first page with a footer: every page from the contents on
    carries «صفحة x من y»; the cover none.
    """
    total = front["pages"] + sum(p["pages"] for p in parts)
    numbers, offset = {}, front["pages"]
    for part in parts:
        numbers.update({index: offset + page for index, page in part["starts"].items()})
        offset += part["pages"]
    placed = {}
    for index, (page, x, y, *_box) in sorted(front["rooms"].items()):
        placed.setdefault(page, []).append((x, y, numbers[index]))
    return total, numbers, placed, front["contents_page"]


# Page-number pages are cheap (~0.004 s each): below this many a share is not worth
# a round trip to another render process, or a task.
FOOTER_SHARE_PAGES = 50
# Celery: the footers in at most this many tasks (the workers' count is not known).
OVERLAY_FOOTER_SHARES = 4


def footer_shares(first, last, most):
    """Pages ``first``..``last`` cut into at most ``most`` runs of similar length,
    each of FOOTER_SHARE_PAGES pages or more (one when there are fewer)."""
    count = last - first + 1
    shares = min(most, max(1, count // FOOTER_SHARE_PAGES))
    bounds = [first + count * i // shares for i in range(shares + 1)]
    return [(bounds[i], bounds[i + 1] - 1) for i in range(shares)]


def parallel_edition(renderer, title, articles, options, render_part, parts, progress=None,
                     render_footers=None):
    """Lay out the parts with ``render_part(first, articles, starts)`` (called from threads,
    so it can hand each part to a render process), then assemble them."""
    from concurrent.futures import ThreadPoolExecutor

    ordered = in_section_order(articles)
    plan = plan_parts(ordered, parts)
    done = [0]

    def one(entry):
        result = render_part(*entry)
        done[0] += len(entry[1])
        if progress is not None:
            progress("prepared", done[0])
        return result

    with ThreadPoolExecutor(max_workers=len(plan) + 1) as executor:
        # The cover and contents need only the articles: made here meanwhile, their
        # page numbers laid over them once the parts are done.
        front = executor.submit(renderer.edition_front, title, ordered, options)
        results = list(executor.map(one, plan))
        front = front.result()
    pdf = assemble(renderer, title, ordered, options, results, render_footers, front)
    if progress is not None:
        progress("laid-out", sum(r["pages"] for r in results))
    return pdf


# -- editions as Celery tasks ---------------------------------------------------------
#
# start → the front and one task per part (each lays out its articles, kept in
# job_parts) → the task that finishes the last part claims the job and enqueues the
# page-number tasks (the contents' numbers, the footers in shares; kept in
# job_overlays) → the one that saves the last share enqueues assembly.  Tasks are
# acknowledged late and idempotent, so a lost worker's task runs again.


def plan_job(settings, store, job_id):
    """Select the articles and cut them into parts; returns the part numbers."""
    jobs = Jobs(store)
    spec = EditionSpec.from_stored(jobs.get(job_id)["spec"])
    articles = in_section_order(select_articles(store, spec))
    if not articles:
        raise ArticleInvalid("articles", "no stored article matches", "لا توجد مقالات مطابقة")
    options = spec.render_options(settings)
    whole = options.archival == "1" or len(articles) <= settings.edition_part_articles
    count = 1 if whole else -(-len(articles) // settings.edition_part_articles)
    plan = [{"first": first, "ids": [a.id for a in part], "starts": starts, "whole": whole}
            for first, part, starts in plan_parts(articles, count)]
    errors = [{"id": i, "code": "article_not_found"} for i in spec.ids
              if i not in {a.id for a in articles}]
    jobs.update(job_id, status="running", total=len(articles), plan=json.dumps(plan),
                errors=errors)
    return list(range(len(plan)))


def run_part(settings, store, renderer, job_id, part_no):
    """Lay out one part; returns True when every part of the job is done."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] not in ("running",):
        return False          # finished, failed or removed meanwhile: nothing to do
    spec = EditionSpec.from_stored(job["spec"])
    plan = json.loads(job["plan"])
    entry = plan[part_no]
    articles = store.find(ids=entry["ids"])
    options = spec.render_options(settings)
    if entry["whole"]:
        pdf = renderer.edition_pdf(spec.title, articles, options)
        if jobs.claim(job_id, "running", "assembling"):
            jobs.save_result(job_id, pdf, _page_count(pdf))
        return False
    result = renderer.edition_part(spec.title, articles, options, entry["first"],
                                   entry["starts"])
    _done, parts_done = jobs.save_part(job_id, part_no, result, len(articles))
    return parts_done == len(plan) and jobs.claim(job_id, "running", "assembling")


def make_front(settings, store, renderer, job_id):
    """Make the cover and contents beside the parts (without their page numbers), so
    that assembly only lays the numbers over them (as ``parallel_edition`` does)."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] != "running" or job["front_pages"] is not None:
        return
    spec = EditionSpec.from_stored(job["spec"])
    articles = store.find(ids=[i for entry in json.loads(job["plan"]) for i in entry["ids"]])
    jobs.save_front(job_id, renderer.edition_front(spec.title, articles,
                                                   spec.render_options(settings)))


class OverlayPlan(NamedTuple):
    """A job's page-number pages, made by its overlay tasks: ``shares[0]`` is None (the
    contents' numbers, ``placed``), the others runs of footer pages."""

    front_pages: int
    total: int
    placed: dict
    shares: list


def overlay_plan(jobs, job_id, front=None):
    """The page-number pages a job's overlay tasks make, or None when its front was
    not made beside the parts (the assembly then makes it, and them, itself).
    ``front``: the job's front, when the caller has it already."""
    front = front or jobs.front(job_id, pdf=False)
    if front is None:
        return None
    total, _numbers, placed, first_footer = placement(front, jobs.part_layout(job_id))
    return OverlayPlan(front["pages"], total, placed,
                       [None, *footer_shares(first_footer, total, OVERLAY_FOOTER_SHARES)])


def overlay_count(store, job_id):
    """How many overlay tasks to enqueue once the last part is laid out (0: none,
    enqueue the assembly)."""
    plan = overlay_plan(Jobs(store), job_id)
    return 0 if plan is None else len(plan.shares)


def stalled_after_parts(store, job_id):
    """Whether the page-number stage may never have been enqueued: the job was claimed
    after its parts, and its assembly is not enqueued yet.  For a redelivered part
    task, whose process may have been lost between the claim and the enqueue."""
    job = Jobs(store).get(job_id)
    return job is not None and job["status"] == "assembling" and job["assembly_queued"] is None


def stalled_after_overlays(store, job_id):
    """Whether every page-number share is kept and the job not yet assembled: for a
    redelivered page-number task, as above (assembling again is harmless)."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] != "assembling":
        return False
    plan = overlay_plan(jobs, job_id)
    return plan is not None and jobs.overlay_count(job_id) == len(plan.shares)


def make_overlay(settings, store, renderer, job_id, share):
    """Make one share of the page-number pages; True for the one task that saved
    the last share and so enqueues the assembly."""
    jobs = Jobs(store)
    job = jobs.get(job_id)
    plan = overlay_plan(jobs, job_id) if job and job["status"] == "assembling" else None
    if plan is None:         # done (its front gone with its parts) or removed meanwhile
        return False
    options = EditionSpec.from_stored(job["spec"]).render_options(settings)
    if plan.shares[share] is None:
        pdf = renderer.edition_numbers(options, plan.front_pages, plan.placed)
    else:
        pdf = renderer.edition_footers(options, plan.total, *plan.shares[share])
    return (jobs.save_overlay(job_id, share, pdf) == len(plan.shares)
            and jobs.claim_assembly(job_id))


def assemble_job(settings, store, renderer, job_id):
    jobs = Jobs(store)
    job = jobs.get(job_id)
    if job is None or job["status"] != "assembling":
        return
    spec = EditionSpec.from_stored(job["spec"])
    ids = [i for entry in json.loads(job["plan"]) for i in entry["ids"]]
    articles = store.find(ids=ids)
    # A front not made yet (its task not run, or failed) is made here, and then
    # its page numbers too: time, not correctness.
    front, overlays = jobs.front(job_id), None
    if front is not None:
        made = jobs.overlays(job_id)
        overlays = made if len(made) == len(overlay_plan(jobs, job_id, front).shares) else None
    pdf = assemble(renderer, spec.title, articles, spec.render_options(settings),
                   jobs.parts(job_id), front=front, overlays=overlays)
    jobs.save_result(job_id, pdf, _page_count(pdf))


def fail_job(store, job_id, exc):
    if isinstance(exc, MatbaaError):
        error = {"code": exc.code, "message_en": exc.message_en, "message_ar": exc.message_ar}
    else:
        error = {"code": "internal_error", "message_en": f"failed ({exc.__class__.__name__})",
                 "message_ar": "حدث خطأ داخلي"}
    Jobs(store).update(job_id, status="failed", errors=[error])
