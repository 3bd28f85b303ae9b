"""Store: articles kept by SQLAlchemy (an SQLite file by default), with revisions."""

import functools
import json
import threading
import time
import weakref
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (
    DateTime, String, Text, bindparam, create_engine, event, func, select, update)
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .article import Article
from .errors import RevisionMismatch, StoreUnavailable


class Base(DeclarativeBase):
    pass


class ArticleRow(Base):
    __tablename__ = "articles"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    section: Mapped[str | None] = mapped_column(String(200), index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    revision: Mapped[str] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SourceRow(Base):
    """Where an article came from and when it was last checked there (WordPress posts)."""

    __tablename__ = "article_sources"

    article_id: Mapped[str] = mapped_column(String(200), primary_key=True)
    source: Mapped[str] = mapped_column(String(40))
    slug: Mapped[str | None] = mapped_column(String(400), index=True)
    remote_modified: Mapped[str | None] = mapped_column(String(40))
    etag: Mapped[str | None] = mapped_column(String(200))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _now():
    return datetime.now(timezone.utc)


def store_error(exc, what="article store error"):
    """StoreUnavailable for a database error, ``transient`` when the connection was lost
    or refused (the database restarting, a network cut): a retry may well succeed."""
    error = StoreUnavailable(f"{what}: {exc.__class__.__name__}")
    error.transient = isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)
    return error


# Reads tried again after a lost connection: the database restarting answers again
# within a second or two; a write is never repeated here (its caller decides).
READ_RETRIES = (0.2, 0.5, 1.0, 2.0)


def read_retried(read):
    """A read of the store, tried again with backoff while the error is transient."""
    @functools.wraps(read)
    def retried(*args, **kwargs):
        for pause in (*READ_RETRIES, None):
            try:
                return read(*args, **kwargs)
            except StoreUnavailable as exc:
                if not exc.transient or pause is None:
                    raise
                time.sleep(pause)
    return retried


class Store:
    """Article storage; every method is one transaction."""

    def __init__(self, url):
        # (an SQLite URI filename, "sqlite:///file:…?mode=ro&uri=true", names an existing file)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///file:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        # pool_pre_ping: a connection the database dropped (PostgreSQL restarted) is
        # found out and replaced before use, not handed to a request.
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._commits = 0      # commits by this process (generation())
        self._commit_lock = threading.Lock()   # += from several threads loses counts
        self._watcher = None   # changes by other processes (generation(), SQLite)
        self._watch_lock = threading.Lock()
        try:
            # The store's own tables; the job tables are made by service.editions.jobs.
            Base.metadata.create_all(self.engine, tables=[ArticleRow.__table__,
                                                          SourceRow.__table__])
        except SQLAlchemyError as exc:
            # Refused while the database restarts: transient, as for any later call.
            raise store_error(exc, "cannot open the article store") from exc

    def upsert(self, article, if_match=None):
        """Insert or update ``article``; return 'created', 'updated' or 'unchanged'.

        One statement decides who creates a new id (INSERT … ON CONFLICT DO NOTHING, on
        SQLite and PostgreSQL alike): of writers racing on it, one creates and the
        others update, never an IntegrityError.  ``if_match`` (a revision, or "*") makes
        the write conditional: a stored article of another revision raises
        RevisionMismatch, naming the stored one.
        """
        revision = article.revision
        now = _now()
        values = {"title": article.title, "section": article.section,
                  "published_at": article.published_at, "revision": revision,
                  "data": json.dumps(article.to_json(), ensure_ascii=False), "updated_at": now}
        with self.session() as session:
            if if_match is None:
                insert = _insert_for(self.engine)(ArticleRow).values(
                    id=article.id, created_at=now, **values)
                # RETURNING, not rowcount: psycopg reports -1 for a skipped-or-not INSERT.
                created = session.execute(insert.on_conflict_do_nothing(index_elements=["id"])
                                          .returning(ArticleRow.id)).scalar()
                if created is not None:
                    session.commit()
                    return "created"
            current = session.execute(
                select(ArticleRow.revision).where(ArticleRow.id == article.id)
                .with_for_update()).scalar()
            if current is None:
                raise RevisionMismatch(None)        # If-Match on an article not stored
            if if_match not in (None, "*", current):
                raise RevisionMismatch(current)
            if current == revision:
                return "unchanged"
            session.execute(update(ArticleRow).where(ArticleRow.id == article.id)
                            .values(**values))
            session.commit()
            return "updated"

    def upsert_many(self, articles):
        """Upsert several articles; return a count per outcome."""
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for article in articles:
            counts[self.upsert(article)] += 1
        return counts

    def get(self, article_id):
        return self.get_with_revision(article_id)[0]

    @read_retried
    def get_with_revision(self, article_id):
        """(the article, its stored revision), or (None, None)."""
        with self.session() as session:
            row = session.get(ArticleRow, article_id)
            if row is None:
                return None, None
            return Article.model_validate_json(row.data), row.revision

    @read_retried
    def find(self, *, ids=None, section=None, start=None, end=None, source=None,
             title_words=()):
        """Articles by ids (in that order) or by filter (oldest first).

        ``start``/``end`` are dates, both included; ``source`` is "wordpress" (posts
        loaded from WordPress) or "local" (everything else); ``title_words``: words
        every title must hold (the desk's search).
        """
        with self.session() as session:
            if ids is not None:
                rows = {r.id: r for r in session.scalars(
                    select(ArticleRow).where(ArticleRow.id.in_(list(ids))))}
                return [Article.model_validate_json(rows[i].data) for i in ids if i in rows]
            query = select(ArticleRow)
            if section:
                query = query.where(ArticleRow.section == section)
            # Naive bounds: SQLite keeps each article's own wall-clock time, so a day
            # is the day the article is dated in its own time zone.
            if start:
                query = query.where(ArticleRow.published_at >= datetime.combine(
                    start, datetime.min.time()))
            if end:
                query = query.where(ArticleRow.published_at < datetime.combine(
                    end, datetime.min.time()) + timedelta(days=1))
            for word in title_words:
                query = query.where(ArticleRow.title.contains(word, autoescape=True))
            if source:
                wordpress = select(SourceRow.article_id).where(SourceRow.source == "wordpress")
                query = query.where(ArticleRow.id.in_(wordpress) if source == "wordpress"
                                    else ArticleRow.id.not_in(wordpress))
            query = query.order_by(ArticleRow.published_at.asc().nulls_last(), ArticleRow.id)
            return [Article.model_validate_json(r.data) for r in session.scalars(query)]

    @read_retried
    def sections(self):
        """The sections of the stored articles, sorted."""
        with self.session() as session:
            return sorted(s for s in session.scalars(
                select(ArticleRow.section).where(ArticleRow.section.is_not(None)).distinct()))

    @read_retried
    def revision(self, article_id):
        """The stored revision of an article, or None: the cached-PDF path asks this on
        every request, so it is one Core query without an ORM session."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(_REVISION, {"id": article_id}).scalar()
        except SQLAlchemyError as exc:
            raise store_error(exc) from exc

    def generation(self):
        """A value that changes when the store changes, or None where the database
        cannot tell that cheaply (anything but SQLite).

        It changes at once when this process commits, and within CHANGE_POLL
        seconds when another process does (SQLite's ``PRAGMA data_version``, read by
        a watcher thread).  Reading it is an attribute read: the readers' hot path
        asks on every request, and the pragma read there instead cost a fifth of its
        throughput (A/B under wrk at 8 connections: 1463–1553 against 1784–1840
        requests/s without any check).
        """
        if self.engine.dialect.name != "sqlite":
            return None
        watcher = self._watcher
        if watcher is None:
            with self._watch_lock:
                if self._watcher is None:
                    self._watcher = _ChangeWatcher(self.engine)
                watcher = self._watcher
        return (self._commits, watcher.seen)

    def _committed(self):
        with self._commit_lock:
            self._commits += 1

    @read_retried
    def list(self, page=1, per_page=20):
        """Return (articles on this page, total count), newest first."""
        with self.session() as session:
            total = session.scalar(select(func.count()).select_from(ArticleRow))
            rows = session.scalars(
                select(ArticleRow)
                .order_by(ArticleRow.published_at.desc().nulls_last(), ArticleRow.id)
                .offset((page - 1) * per_page).limit(per_page)).all()
            return [Article.model_validate_json(r.data) for r in rows], total

    def delete(self, article_id):
        """Remove an article and its source record; return whether it was there."""
        with self.session() as session:
            row = session.get(ArticleRow, article_id)
            source = session.get(SourceRow, article_id)
            for found in (row, source):
                if found is not None:
                    session.delete(found)
            session.commit()
            return row is not None

    def source_state(self, article_id=None, *, source=None, slug=None):
        """The source record of an article, by id or by (source, slug); a plain dict."""
        with self.session() as session:
            if article_id is not None:
                row = session.get(SourceRow, article_id)
            else:
                row = session.scalars(select(SourceRow).where(
                    SourceRow.source == source, SourceRow.slug == slug)).first()
            if row is None:
                return None
            return {c.name: getattr(row, c.name) for c in SourceRow.__table__.columns}

    def save_source_state(self, article_id, source, **fields):
        """Create or update an article's source record; ``checked_at`` defaults to now."""
        with self.session() as session:
            row = session.get(SourceRow, article_id)
            if row is None:
                row = SourceRow(article_id=article_id, source=source)
                session.add(row)
            row.source = source
            row.checked_at = fields.pop("checked_at", None) or _now()
            for name, value in fields.items():
                setattr(row, name, value)
            session.commit()

    def close(self):
        """Close the pooled connections (a PostgreSQL server counts them)."""
        with self._watch_lock:
            if self._watcher is not None:
                self._watcher.stop()
                self._watcher = None
        self.engine.dispose()

    def ping(self):
        with self.session() as session:
            session.execute(select(1))

    def session(self):
        """A session on the store's database, as a context manager: its database errors
        become StoreUnavailable (503), rolled back; commits count for ``generation()``.
        For the job records (``service.editions.jobs``) beside the articles."""
        return _GuardedSession(self.engine, on_commit=self._committed)


_REVISION = select(ArticleRow.revision).where(ArticleRow.id == bindparam("id"))


# Seconds within which generation() sees another process's commit.
CHANGE_POLL = 0.05


class _ChangeWatcher:
    """Counts SQLite's ``PRAGMA data_version`` changes, read every CHANGE_POLL seconds
    on a connection of its own (the value is per connection; this one never writes).
    The thread ends when the watcher is stopped or no longer referenced."""

    def __init__(self, engine):
        # Made here, read in the thread: not tied to the thread that made it.
        cargs, cparams = engine.dialect.create_connect_args(engine.url)
        connection = engine.dialect.loaded_dbapi.connect(
            *cargs, **{**cparams, "check_same_thread": False})
        version = _data_version(connection)
        self.seen = 0
        self._stopped = threading.Event()
        threading.Thread(target=_watch, args=(weakref.ref(self), connection, version,
                                              self._stopped),
                         name="matbaa-store-watcher", daemon=True).start()

    def stop(self):
        self._stopped.set()


def _data_version(connection):
    return connection.execute("PRAGMA data_version").fetchone()[0]


def _watch(watcher_ref, connection, version, stopped):
    try:
        while not stopped.wait(CHANGE_POLL):
            watcher = watcher_ref()
            if watcher is None:
                return
            try:
                now = _data_version(connection)
            except Exception:       # the file is busy or gone: count it as a change
                now = None
            if now != version:
                version = now
                watcher.seen += 1
            del watcher
    finally:
        connection.close()


class _GuardedSession(Session):
    """A session whose database errors become StoreUnavailable (503), rolled back;
    ``on_commit`` is called after each commit."""

    def __init__(self, engine, on_commit=None):
        super().__init__(engine)
        self._on_commit = on_commit

    def commit(self):
        super().commit()
        if self._on_commit is not None:
            self._on_commit()

    def __exit__(self, kind, exc, tb):
        try:
            super().__exit__(kind, exc, tb)
        except SQLAlchemyError as closing:
            # Closing rolls back, and a connection the database dropped (PostgreSQL
            # restarting: AdminShutdown) fails there, after the work succeeded.
            raise store_error(closing) from closing
        if isinstance(exc, SQLAlchemyError):
            raise store_error(exc) from exc


def _insert_for(engine):
    """The dialect's INSERT, which knows ON CONFLICT."""
    if engine.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert


def _sqlite_pragmas(connection, _record):
    # WAL lets readers go on while an import writes; a busy timeout rides out
    # short locks held by another process instead of failing at once.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
