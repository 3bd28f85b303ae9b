"""Store: articles kept by SQLAlchemy (an SQLite file by default), with revisions."""

import json
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (
    DateTime, String, Text, bindparam, create_engine, event, func, select)
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from .article import Article
from .errors import StoreUnavailable


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


class Store:
    """Article storage; every method is one transaction."""

    def __init__(self, url):
        # (an SQLite URI filename, "sqlite:///file:…?mode=ro&uri=true", names an existing file)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///file:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._watch = None   # the connection generation() reads (SQLite)
        self._watch_lock = threading.Lock()
        try:
            Base.metadata.create_all(self.engine)
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"cannot open the article store: {exc.__class__.__name__}")

    def upsert(self, article):
        """Insert or update ``article``; return 'created', 'updated' or 'unchanged'."""
        revision = article.revision
        with self._session() as session:
            row = session.get(ArticleRow, article.id)
            if row is not None and row.revision == revision:
                return "unchanged"
            outcome = "updated" if row else "created"
            if row is None:
                row = ArticleRow(id=article.id, created_at=_now())
                session.add(row)
            row.title = article.title
            row.section = article.section
            row.published_at = article.published_at
            row.revision = revision
            row.data = json.dumps(article.to_json(), ensure_ascii=False)
            row.updated_at = _now()
            session.commit()
            return outcome

    def upsert_many(self, articles):
        """Upsert several articles; return a count per outcome."""
        counts = {"created": 0, "updated": 0, "unchanged": 0}
        for article in articles:
            counts[self.upsert(article)] += 1
        return counts

    def get(self, article_id):
        with self._session() as session:
            row = session.get(ArticleRow, article_id)
            return None if row is None else Article.model_validate_json(row.data)

    def find(self, *, ids=None, section=None, start=None, end=None, source=None):
        """Articles by ids (in that order) or by filter (oldest first).

        ``start``/``end`` are dates, both included; ``source`` is "wordpress" (posts
        loaded from WordPress) or "local" (everything else).
        """
        with self._session() as session:
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
            if source:
                wordpress = select(SourceRow.article_id).where(SourceRow.source == "wordpress")
                query = query.where(ArticleRow.id.in_(wordpress) if source == "wordpress"
                                    else ArticleRow.id.not_in(wordpress))
            query = query.order_by(ArticleRow.published_at.asc().nulls_last(), ArticleRow.id)
            return [Article.model_validate_json(r.data) for r in session.scalars(query)]

    def revision(self, article_id):
        """The stored revision of an article, or None: the cached-PDF path asks this on
        every request, so it is one Core query without an ORM session."""
        try:
            with self.engine.connect() as connection:
                return connection.execute(_REVISION, {"id": article_id}).scalar()
        except SQLAlchemyError as exc:
            raise StoreUnavailable(
                f"article store error: {exc.__class__.__name__}") from exc

    def generation(self):
        """A number that changes whenever any connection, in any process, commits to the
        store; None where the database cannot tell that cheaply (anything but SQLite).

        SQLite's ``PRAGMA data_version`` on one connection kept for it (the value is
        per connection, and that connection itself never writes): a few microseconds,
        against a fifth of a millisecond for the revision query.
        """
        if self.engine.dialect.name != "sqlite":
            return None
        with self._watch_lock:
            try:
                if self._watch is None:
                    self._watch = self.engine.raw_connection()
                cursor = self._watch.cursor()
                try:
                    return cursor.execute("PRAGMA data_version").fetchone()[0]
                finally:
                    cursor.close()
            except Exception:
                self._drop_watch()
                raise

    def _drop_watch(self):
        if self._watch is not None:
            try:
                self._watch.invalidate()
            except Exception:
                pass
            self._watch = None

    def list(self, page=1, per_page=20):
        """Return (articles on this page, total count), newest first."""
        with self._session() as session:
            total = session.scalar(select(func.count()).select_from(ArticleRow))
            rows = session.scalars(
                select(ArticleRow)
                .order_by(ArticleRow.published_at.desc().nulls_last(), ArticleRow.id)
                .offset((page - 1) * per_page).limit(per_page)).all()
            return [Article.model_validate_json(r.data) for r in rows], total

    def delete(self, article_id):
        """Remove an article and its source record; return whether it was there."""
        with self._session() as session:
            row = session.get(ArticleRow, article_id)
            source = session.get(SourceRow, article_id)
            for found in (row, source):
                if found is not None:
                    session.delete(found)
            session.commit()
            return row is not None

    def source_state(self, article_id=None, *, source=None, slug=None):
        """The source record of an article, by id or by (source, slug); a plain dict."""
        with self._session() as session:
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
        with self._session() as session:
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
            if self._watch is not None:
                self._watch.close()
                self._watch = None
        self.engine.dispose()

    def ping(self):
        with self._session() as session:
            session.execute(select(1))

    def _session(self):
        return _GuardedSession(self.engine)


_REVISION = select(ArticleRow.revision).where(ArticleRow.id == bindparam("id"))


class _GuardedSession(Session):
    """A session whose database errors become StoreUnavailable (503), rolled back."""

    def __exit__(self, kind, exc, tb):
        super().__exit__(kind, exc, tb)
        if isinstance(exc, SQLAlchemyError):
            raise StoreUnavailable(
                f"article store error: {exc.__class__.__name__}") from exc


def _sqlite_pragmas(connection, _record):
    # WAL lets readers go on while an import writes; a busy timeout rides out
    # short locks held by another process instead of failing at once.
    cursor = connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
