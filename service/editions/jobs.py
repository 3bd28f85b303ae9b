"""Jobs: edition jobs and the pieces they keep on the way, in the store's database.

A job's row holds its spec, status and progress; Celery jobs keep their laid-out
parts, front and page-number pages in tables of their own until the edition is
put together, and every finished edition is kept in ``job_files`` so any web
process, on any machine, can serve it.
"""

import hashlib
import json
import uuid
import weakref
from datetime import datetime, timedelta, timezone

from sqlalchemy import (DateTime, Integer, LargeBinary, String, Text, func, inspect, select,
                        text, update)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Mapped, mapped_column

from ..errors import MatbaaError
from ..store import Base, read_retried


class JobRow(Base):
    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), index=True)
    spec: Mapped[str] = mapped_column(Text)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    pages: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[str] = mapped_column(Text, default="[]")
    sha256: Mapped[str | None] = mapped_column(String(64))
    plan: Mapped[str | None] = mapped_column(Text)      # parts, for jobs run on Celery
    # The cover and contents' length, set when they are made beside the parts (Celery
    # jobs; the front itself is in job_fronts until the edition is put together).
    front_pages: Mapped[int | None] = mapped_column(Integer)
    # Set (1) by the task that saved the last page-number share, in one conditional
    # UPDATE: only that task enqueues the assembly.
    assembly_queued: Mapped[int | None] = mapped_column(Integer)
    # Set (1) by whichever of the last part and the front (made beside the parts) finds
    # both there, in one conditional UPDATE: only that task enqueues the page numbers.
    overlays_queued: Mapped[int | None] = mapped_column(Integer)
    # Set (1) when the front could not be made beside the parts: the assembly makes it.
    front_failed: Mapped[int | None] = mapped_column(Integer)
    # Times the reaper found the job without progress and enqueued its next steps again.
    reaped: Mapped[int | None] = mapped_column(Integer)
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


def _now():
    return datetime.now(timezone.utc)


# Engines whose job tables are known to be there, with every column.
_SCHEMA_READY = weakref.WeakSet()
_TABLES = [JobRow.__table__, JobPartRow.__table__, JobFrontRow.__table__,
           JobOverlayRow.__table__, JobFileRow.__table__]
# Columns of stores made by earlier versions that nothing reads or writes any more
# (``kind`` was NOT NULL: it would refuse new rows).
_DROPPED = ("kind", "result")


def _prepare_schema(engine):
    """The job tables, created here and nowhere else; a store made by an earlier
    version gets the columns added since (nullable: old rows need nothing) and loses
    the ones dropped."""
    Base.metadata.create_all(engine, tables=_TABLES)
    columns = {c["name"] for c in inspect(engine).get_columns("jobs")}
    changes = [f"ADD COLUMN {c.name} {c.type.compile(engine.dialect)}"
               for c in JobRow.__table__.columns if c.name not in columns]
    changes += [f"DROP COLUMN {name}" for name in _DROPPED if name in columns]
    for change in changes:
        try:
            with engine.begin() as connection:
                connection.execute(text(f"ALTER TABLE jobs {change}"))
        except DBAPIError:
            # Another process starting at the same moment made the change first.
            now = {c["name"] for c in inspect(engine).get_columns("jobs")}
            name = change.split()[2]
            if (name in now) != change.startswith("ADD"):
                raise


class Jobs:
    """Job records in the store's database."""

    def __init__(self, store):
        self.store = store
        if store.engine not in _SCHEMA_READY:      # once per engine, not per task
            _prepare_schema(store.engine)
            _SCHEMA_READY.add(store.engine)

    def create(self, spec):
        job_id = uuid.uuid4().hex
        with self.store.session() as session:
            session.add(JobRow(id=job_id, status="queued",
                               spec=json.dumps(spec.to_json(), ensure_ascii=False),
                               done=0, total=0, pages=0, errors="[]", created_at=_now(),
                               updated_at=_now()))
            session.commit()
        return job_id

    @read_retried
    def get(self, job_id):
        with self.store.session() as session:
            row = session.get(JobRow, job_id)
            if row is None:
                return None
            data = {c.name: getattr(row, c.name) for c in JobRow.__table__.columns}
        data["spec"] = json.loads(data["spec"])
        data["errors"] = json.loads(data["errors"])
        return data

    @read_retried
    def recent(self, limit=10):
        """The newest jobs: (id, status, title, pages, sha256, created_at) dicts."""
        with self.store.session() as session:
            rows = session.execute(
                select(JobRow.id, JobRow.status, JobRow.spec, JobRow.pages, JobRow.sha256,
                       JobRow.done, JobRow.total, JobRow.created_at)
                .order_by(JobRow.created_at.desc()).limit(limit)).all()
        return [{"id": r.id, "status": r.status, "title": json.loads(r.spec)["title"],
                 "pages": r.pages, "sha256": r.sha256, "done": r.done, "total": r.total,
                 "created_at": r.created_at} for r in rows]

    def update(self, job_id, **fields):
        with self.store.session() as session:
            row = session.get(JobRow, job_id)
            for name, value in fields.items():
                setattr(row, name, json.dumps(value, ensure_ascii=False)
                        if name == "errors" else value)
            row.updated_at = _now()
            session.commit()

    def delete(self, job_id):
        with self.store.session() as session:
            for model in (JobFileRow, JobPartRow, JobFrontRow, JobOverlayRow):
                session.query(model).filter_by(job_id=job_id).delete()
            session.query(JobRow).filter_by(id=job_id).delete()
            session.commit()

    def save_result(self, job_id, pdf, pages):
        digest = hashlib.sha256(pdf).hexdigest()
        with self.store.session() as session:
            session.merge(JobFileRow(job_id=job_id, pdf=pdf))
            session.query(JobPartRow).filter_by(job_id=job_id).delete()
            session.query(JobFrontRow).filter_by(job_id=job_id).delete()
            session.query(JobOverlayRow).filter_by(job_id=job_id).delete()
            row = session.get(JobRow, job_id)
            row.status, row.sha256, row.pages, row.done = "done", digest, pages, row.total
            row.updated_at = _now()
            session.commit()
        return digest

    def result(self, job_id):
        with self.store.session() as session:
            row = session.get(JobFileRow, job_id)
            return None if row is None else row.pdf

    def save_part(self, job_id, part, result, articles):
        """Keep a laid-out part (again, if a redelivered task made it twice); return
        how many articles are laid out and how many parts are done."""
        with self.store.session() as session:
            session.merge(JobPartRow(job_id=job_id, part=part, pdf=result["pdf"],
                                     pages=result["pages"], articles=articles,
                                     starts=json.dumps(result["starts"])))
            session.commit()
        # Counted after the commit, in a transaction of its own: of two parts saved at
        # the same moment, each counting inside its own transaction saw only itself,
        # and no one enqueued the assembly (seen under CI).  Now the one that commits
        # last sees both.
        with self.store.session() as session:
            rows = session.query(JobPartRow.articles).filter_by(job_id=job_id).all()
            done = sum(r[0] for r in rows)
            session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.done < done)
                            .values(done=done, updated_at=_now()))
            session.commit()
            return done, len(rows)

    def parts(self, job_id):
        with self.store.session() as session:
            rows = session.query(JobPartRow).filter_by(job_id=job_id).order_by(
                JobPartRow.part).all()
            return [{"pdf": r.pdf, "pages": r.pages,
                     "starts": {int(k): v for k, v in json.loads(r.starts).items()}}
                    for r in rows]

    def part_layout(self, job_id):
        """The parts' page counts and article starts, without their PDFs."""
        with self.store.session() as session:
            rows = session.query(JobPartRow.pages, JobPartRow.starts).filter_by(
                job_id=job_id).order_by(JobPartRow.part).all()
            return [{"pages": pages, "starts": {int(k): v for k, v in json.loads(starts).items()}}
                    for pages, starts in rows]

    def save_overlay(self, job_id, share, pdf):
        """Keep a share of the page-number pages; return how many shares are kept
        (counted after the commit, as parts are)."""
        with self.store.session() as session:
            session.merge(JobOverlayRow(job_id=job_id, share=share, pdf=pdf))
            session.commit()
        return self.overlay_count(job_id)

    def overlay_count(self, job_id):
        with self.store.session() as session:
            return session.query(JobOverlayRow).filter_by(job_id=job_id).count()

    def overlays(self, job_id):
        with self.store.session() as session:
            rows = session.query(JobOverlayRow).filter_by(job_id=job_id).order_by(
                JobOverlayRow.share).all()
            return [r.pdf for r in rows]

    def claim_assembly(self, job_id):
        """True for the one caller that marks the job's assembly as enqueued."""
        with self.store.session() as session:
            moved = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.status == "assembling",
                JobRow.assembly_queued.is_(None)).values(
                assembly_queued=1, updated_at=_now())).rowcount
            session.commit()
            return moved == 1

    def claim_overlays(self, job_id):
        """True for the one caller that marks the job's page numbers as enqueued: its
        parts all laid out and its front made."""
        with self.store.session() as session:
            moved = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.status == "assembling",
                JobRow.front_pages.is_not(None), JobRow.overlays_queued.is_(None)).values(
                overlays_queued=1, updated_at=_now())).rowcount
            session.commit()
            return moved == 1

    def save_front(self, job_id, front):
        with self.store.session() as session:
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
        with self.store.session() as session:
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
        with self.store.session() as session:
            moved = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.status == from_status).values(
                status=to_status, updated_at=_now())).rowcount
            session.commit()
            return moved == 1

    def fail(self, job_id, exc):
        """Mark a job failed with its error, as the client will read it."""
        if isinstance(exc, MatbaaError):
            error = {"code": exc.code, "message_en": exc.message_en, "message_ar": exc.message_ar}
        else:
            error = {"code": "internal_error", "message_en": f"failed ({exc.__class__.__name__})",
                     "message_ar": "حدث خطأ داخلي"}
        self.update(job_id, status="failed", errors=[error])

    def saved_parts(self, job_id):
        with self.store.session() as session:
            return set(session.scalars(select(JobPartRow.part).where(
                JobPartRow.job_id == job_id)))

    def stalled(self, seconds):
        """Unfinished jobs whose row has not changed for ``seconds``: (id, status,
        updated_at, reaped) for each."""
        since = _now() - timedelta(seconds=seconds)
        with self.store.session() as session:
            return [tuple(row) for row in session.execute(
                select(JobRow.id, JobRow.status, JobRow.updated_at, JobRow.reaped).where(
                    JobRow.status.in_(["queued", "running", "assembling"]),
                    JobRow.updated_at < since))]

    def claim_stalled(self, job_id, updated_at):
        """True for the one reaper that takes a stalled job up (its row unchanged since
        ``updated_at``); counts the attempt and restarts its clock."""
        with self.store.session() as session:
            moved = session.execute(update(JobRow).where(
                JobRow.id == job_id, JobRow.updated_at == updated_at).values(
                reaped=func.coalesce(JobRow.reaped, 0) + 1, updated_at=_now())).rowcount
            session.commit()
            return moved == 1

    def unfinished(self):
        with self.store.session() as session:
            return list(session.scalars(select(JobRow.id).where(
                JobRow.status.in_(["queued", "running"]))))
