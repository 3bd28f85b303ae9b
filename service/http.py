"""HTTP: the routes, thin wrappers around store and render."""

import hmac
import importlib
import ipaddress
import math
import mimetypes
import re
import time
from urllib.parse import quote

from flask import Blueprint, Response, current_app, g, jsonify, request, send_from_directory, url_for
from markupsafe import Markup
from werkzeug.exceptions import NotFound

from . import errors, hot, security
from .article import parse_article
from .pdfs import cached_pdf
from .observe import metrics
from .render import VERSION
from .template import RenderOptions

bp = Blueprint("matbaa", __name__)


def _settings():
    return current_app.extensions["matbaa.settings"]


def _store():
    return current_app.extensions["matbaa.store"]


def _renderer():
    return current_app.extensions["matbaa.renderer"]


def _wordpress():
    return current_app.extensions.get("matbaa.wordpress")


def _load(article_id):
    """The article to print: a WordPress post (numeric id, when configured) or a stored one."""
    wordpress = _wordpress()
    if wordpress is not None and wordpress.handles(article_id):
        return _loaded(wordpress.load(article_id))
    article = _store().get(article_id)
    if article is None:
        raise errors.ArticleNotFound(f"no article with id '{article_id}'")
    return article


def _loaded(loaded):
    metrics().source_loads.labels(loaded.outcome).inc()
    if loaded.stale:
        # Served from the store because WordPress failed: say so (RFC 7234 warn-code 111).
        g.matbaa_stale = loaded.reason
    return loaded.article


@bp.after_app_request
def _mark_stale(response):
    reason = g.pop("matbaa_stale", None)
    if reason:
        response.headers["Warning"] = '111 matbaa "Revalidation Failed: stored copy served"'
        response.headers["X-Matbaa-Source"] = f"stale; reason={reason}"
    return response


def _cache():
    return current_app.extensions["matbaa.cache"]


def _pdf_response(file_stem, pdf, missing_glyphs, etag=None):
    response = Response(pdf, mimetype="application/pdf")
    disposition = "attachment" if request.args.get("download") == "1" else "inline"
    filename = f"{file_stem}.pdf"
    # Old clients read only the plain filename: give them an ASCII one.
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "", file_stem).strip("-.")
    ascii_name = f"{ascii_stem or 'article'}.pdf"
    response.headers["Content-Disposition"] = (
        f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}")
    if missing_glyphs:
        response.headers["X-Matbaa-Missing-Glyphs"] = " ".join(
            f"U+{ord(c):04X}" for c in missing_glyphs)
    if etag:
        _cacheable(response, etag)
    return response


def _not_modified(etag):
    # If-None-Match compares weakly (RFC 9110 13.1.2): W/"x" matches "x".
    return request.if_none_match.contains_weak(etag)


def _cacheable(response, etag):
    response.set_etag(etag)
    response.cache_control.public = True
    response.cache_control.max_age = _settings().cache_max_age
    return response


@bp.get("/articles/<article_id>.pdf")
def article_pdf(article_id):
    options = RenderOptions.from_query(request.args, _settings())
    wordpress = _wordpress()
    if wordpress is not None and wordpress.handles(article_id):
        # WordPress posts are checked against WordPress (its freshness window).
        article = _loaded(wordpress.load(article_id))
        return _article_pdf(_renderer().etag(article, options), options, lambda: article)
    # A stored article's answer may be kept by the hot path (hot.py) until the store
    # changes.  Its ETag comes from the stored revision alone: a PDF already rendered
    # is served without loading and hashing the article.
    request.environ[hot.KEEP] = True
    revision = _store().revision(article_id)
    if revision is None:
        raise errors.ArticleNotFound(f"no article with id '{article_id}'")

    def load():
        article, stored = _store().get_with_revision(article_id)
        if stored != revision:
            # Changed or removed since its revision was read: answer as if asked now.
            raise _Changed()
        return article

    try:
        return _article_pdf(_renderer().etag_for(revision, options), options, load)
    except _Changed:
        return article_pdf(article_id)


class _Changed(Exception):
    """The stored article changed between reading its revision and loading it."""


@bp.get("/articles/by-slug/<path:slug>.pdf")
def article_pdf_by_slug(slug):
    """A WordPress post by its slug (Arabic slugs as text or percent-encoded)."""
    wordpress = _wordpress()
    if wordpress is None:
        raise errors.ArticleNotFound(
            "articles are found by slug only on a WordPress site; set MATBAA_WORDPRESS_URL",
            "البحث بالاسم المختصر متاح لمواقع ووردبريس فقط")
    article = _loaded(wordpress.load_slug(slug))
    options = RenderOptions.from_query(request.args, _settings())
    return _article_pdf(_renderer().etag(article, options), options, lambda: article)


def _article_pdf(etag, options, load):
    """One trip: If-None-Match, the cache, else the render (within the readers' rate)
    kept in the cache; ``etag`` is the cache key, the answer's ETag and the PDF's /ID."""
    if _not_modified(etag):
        return _cacheable(Response(status=304), etag)
    delivered = cached_pdf(_cache(), _renderer(), etag, options, load,
                           before_render=_count_render)
    return _served(delivered.file_stem, delivered.pdf, delivered.missing_glyphs, etag,
                   "hit" if delivered.hit else "shared" if delivered.shared else "miss")


def _count_render():
    """A reader's request is about to cause a render: within MATBAA_RENDER_RATE?"""
    limiter, rate = current_app.extensions["matbaa.render_limiter"]
    client = request.remote_addr or "unknown"
    if not limiter.hit(rate, "render", client):
        reset = limiter.get_window_stats(rate, "render", client).reset_time
        raise errors.RenderRateLimited(_settings().render_rate,
                                       max(1, math.ceil(reset - time.time())))


def _served(file_stem, pdf, missing, etag, cache):
    """A PDF answer, counted as a cache hit, a miss (rendered for this reader), or
    shared (another reader's render, waited for)."""
    metrics().cache.labels(cache).inc()
    response = _pdf_response(file_stem, pdf, missing, etag)
    response.headers["X-Matbaa-Cache"] = cache
    return response


@bp.put("/articles/<article_id>")
def put_article(article_id):
    """Upsert an article (JSON), then render its PDF in the background for the first reader."""
    require_writer()
    if not request.is_json:
        raise errors.UnsupportedMediaType()
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise errors.BadRequest()
    if data.setdefault("id", article_id) != article_id:
        raise errors.ArticleInvalid("id", f"must be '{article_id}', the id in the address",
                                    f"يجب أن يطابق المعرّف «{article_id}» الوارد في العنوان")
    article = parse_article(data, _settings().max_article_chars, _settings().zone)
    outcome = _store().upsert(article, if_match=_if_match())
    _prerender(article)
    response = jsonify({"outcome": outcome, "article": article.to_json()})
    response.status_code = 201 if outcome == "created" else 200
    response.headers["Location"] = url_for("matbaa.article_pdf", article_id=article.id)
    response.set_etag(article.revision)
    return response


def _if_match():
    """The revision a conditional PUT was read at (If-Match), "*", or None."""
    if "If-Match" not in request.headers:
        return None
    if request.if_match.star_tag:
        return "*"
    tags = list(request.if_match)
    if len(tags) != 1:
        raise errors.ArticleInvalid("If-Match", "send one revision, as GET /articles/<id> "
                                    "gave it in its ETag", "أرسل مراجعة واحدة في If-Match")
    return tags[0]


@bp.get("/articles/<article_id>")
def get_article(article_id):
    """The stored article's JSON, with its revision as ETag (for If-Match on PUT)."""
    article, revision = _store().get_with_revision(article_id)
    if article is None:
        raise errors.ArticleNotFound(f"no article with id '{article_id}'")
    response = jsonify(article.to_json())
    response.set_etag(revision)
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.post("/hooks/wordpress")
def wordpress_hook():
    """WordPress says a post was published, updated or unpublished: load it again now.

    Body: ``{"post_id": 123}`` (JSON; a form only with an API key).  A published post is stored and its
    PDF rendered in the background; a post that is no longer public is removed.
    """
    require_writer()
    if not request.is_json and not _settings().api_key_list:
        # A cross-site page can post a form to a service on loopback, but not JSON (that
        # asks the browser's preflight first): without keys, JSON only.
        raise errors.UnsupportedMediaType(
            "send {\"post_id\": N} as application/json; a form is taken only with an API "
            "key (MATBAA_API_KEYS)",
            "أرسل {\"post_id\": N} بصيغة application/json؛ لا يُقبل النموذج إلا بمفتاح API",
            setting="MATBAA_API_KEYS")
    wordpress = _wordpress()
    if wordpress is None:
        raise errors.ArticleNotFound("no WordPress site is configured; set MATBAA_WORDPRESS_URL",
                                     "لم يُضبط موقع ووردبريس")
    data = request.get_json(silent=True) if request.is_json else request.form
    post_id = str((data or {}).get("post_id", "")).strip()
    if not wordpress.handles(post_id):
        raise errors.ArticleInvalid("post_id", "must be a WordPress post id (digits)",
                                    "الحقل «post_id» يجب أن يكون رقم مقال ووردبريس")
    try:
        loaded = wordpress.load(post_id, force=True)
    except (errors.ArticleNotFound, errors.ArticleNotPublic) as exc:
        removed = _store().delete(post_id)
        return jsonify({"outcome": "removed" if removed else "absent", "post_id": post_id,
                        "reason": exc.code})
    if loaded.stale:
        raise errors.SourceUnavailable(
            f"WordPress could not be reached to load post {post_id}; try the hook again")
    _prerender(loaded.article)
    response = jsonify({"outcome": loaded.outcome, "article": loaded.article.to_json()})
    response.status_code = 201 if loaded.outcome == "created" else 200
    response.headers["Location"] = url_for("matbaa.article_pdf", article_id=post_id)
    return response


def _prerender(article):
    """Queue the default PDF's render, so the first reader is served from the cache."""
    current_app.extensions["matbaa.prerenders"].submit(article, _renderer().default_options())


@bp.get("/articles/<article_id>/print")
def article_print(article_id):
    article = _load(article_id)
    options = RenderOptions.from_query(request.args, _settings())
    pdf_href = url_for("matbaa.article_pdf", article_id=article.id, download="1",
                       **{name: getattr(options, name) for name in RenderOptions.ALLOWED})
    renderer = _renderer()
    html = renderer.html(article, options, asset_base=url_for("matbaa.home") + "assets/",
                         pdf_href=pdf_href, autoprint=request.args.get("print") == "1")
    response = Response(html, mimetype="text/html")
    # The page's own inline stylesheet (its @page rules) by hash; images from the hosts
    # the operator allowed.
    response.headers["Content-Security-Policy"] = security.page_policy(
        _settings(), html, renderer.images.csp_sources())
    return response


# Headers a proxy adds: behind one, every client's connection comes from loopback.
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def require_writer():
    """Writes and renders of sent content need an API key, or a loopback client.

    Without keys, a request that came through a proxy is refused: its connection is
    from loopback whoever sent it (MATBAA_TRUSTED_PROXIES only says whose address to
    believe, for limits and logs).
    """
    keys = _settings().api_key_list
    if not keys:
        if any(name in request.headers for name in FORWARDING_HEADERS):
            raise errors.ForwardedWrite()
        if not _is_loopback(request.remote_addr):
            raise errors.Forbidden()
        return
    given = request.headers.get("Authorization", "")
    token = given[7:].strip() if given[:7].lower() == "bearer " else ""
    if not is_api_key(token):
        raise errors.Unauthorized()


def is_api_key(token):
    """Whether ``token`` is one of MATBAA_API_KEYS: compared with every key, in
    constant time, so timing tells nothing (the desk's sign-in asks it too)."""
    keys = _settings().api_key_list
    return any([hmac.compare_digest(token.encode(), key.encode()) for key in keys])


def _is_loopback(address):
    try:
        return ipaddress.ip_address(address or "").is_loopback
    except ValueError:
        return False


def _json_body():
    """A writer's JSON request body (401/403, 415, 400 otherwise)."""
    require_writer()
    if not request.is_json:
        raise errors.UnsupportedMediaType()
    data = request.get_json(silent=True)
    if data is None:
        raise errors.BadRequest()
    return data


@bp.post("/render")
def render():
    data = _json_body()
    article = parse_article(data, _settings().max_article_chars, _settings().zone)
    options = RenderOptions.from_query(request.args, _settings())
    result = _renderer().pdf(article, options)
    return _pdf_response(article.file_stem, result.pdf, result.missing_glyphs)


@bp.post("/articles/import")
def import_page():
    """A saved article page (text/html body) becomes a stored article: 201 and its JSON.
    A feed (application/rss+xml, application/atom+xml) becomes one article per item:
    200 with each item's outcome, and the items that could not be imported with why."""
    require_writer()
    if _importers()["ok"] is not True:
        raise errors.ImporterUnavailable()
    from .feeds import FEED_TYPES, articles_from_feed, import_feed, looks_like_feed
    from .source import article_from_page

    if request.mimetype in FEED_TYPES or (request.mimetype in ("application/xml", "text/xml")
                                          and looks_like_feed(request.get_data())):
        settings = _settings()
        items = articles_from_feed(request.get_data(), settings.max_article_chars,
                                   settings.zone)
        if not items.articles and items.failed:
            raise errors.ArticleInvalid(
                "items", f"no item of the feed is an article ({len(items.failed)} failed)",
                "لا يصلح أي عنصر من الموجز مقالاً", failed=items.failed)
        return jsonify(import_feed(_store(), items))
    if request.mimetype != "text/html":
        raise errors.UnsupportedMediaType(
            "send the page as text/html, or a feed as application/rss+xml or "
            "application/atom+xml", "أرسل الصفحة بصيغة text/html أو الموجز بصيغة RSS أو Atom")
    url = request.args.get("url") or None
    page = request.get_data().decode(request.mimetype_params.get("charset", "utf-8"),
                                     errors="replace")
    article = article_from_page(page, url, _settings().max_article_chars, _settings().zone)
    _store().upsert(article)
    response = jsonify(article.to_json())
    response.status_code = 201
    response.headers["Location"] = url_for("matbaa.article_pdf", article_id=article.id)
    return response


def job_runner(app=None):
    """The local job runner, started on first use (a spawned worker process)."""
    app = app or current_app._get_current_object()
    runner = app.extensions.get("matbaa.job_runner")
    if runner is None:
        from .editions import LocalJobs

        runner = app.extensions["matbaa.job_runner"] = LocalJobs(
            app.extensions["matbaa.settings"])
    return runner


def _jobs():
    return current_app.extensions["matbaa.jobs"]


@bp.post("/editions")
def create_edition():
    """Many articles as one PDF, made in the background: 202 and where to watch it."""
    from .editions import EditionSpec

    spec = EditionSpec.from_json(_json_body(), _settings())
    job_id = start_edition(spec)
    response = jsonify(_job_json(_jobs().get(job_id)))
    response.status_code = 202
    response.headers["Location"] = url_for("matbaa.edition_status", job_id=job_id)
    return response


def start_edition(spec):
    """Make the job of ``spec`` and start it (locally or on Celery); its id.  The
    desk's editions are made here too."""
    job_id = _jobs().create(spec)
    celery = current_app.extensions.get("matbaa.celery")
    if celery is None:
        job_runner().submit(job_id)
    else:
        try:
            celery.matbaa_start.apply_async((job_id,), retry=False)
        except Exception as exc:      # kombu's errors: the broker cannot be reached
            _jobs().delete(job_id)
            raise errors.QueueUnavailable(
                f"the job queue cannot be reached ({exc.__class__.__name__}); "
                "no job was made, try again") from None
    return job_id


@bp.get("/editions/<job_id>")
def edition_status(job_id):
    return jsonify(_job_json(_job(job_id)))


@bp.get("/editions/<job_id>.pdf")
def edition_pdf(job_id):
    job = _job(job_id)
    if job["status"] != "done":
        raise errors.EditionNotReady(status=job["status"], done=job["done"], total=job["total"])
    pdf = _jobs().result(job_id)
    if pdf is None:
        raise errors.JobNotFound(f"the edition of job '{job_id}' is no longer kept")
    response = Response(pdf, mimetype="application/pdf")
    _cacheable(response, job["sha256"])
    response.headers["Digest"] = f"sha-256={job['sha256']}"
    if request.args.get("download") == "1":
        response.headers["Content-Disposition"] = f'attachment; filename="edition-{job_id}.pdf"'
    return response


def _job(job_id):
    job = _jobs().get(job_id) if re.fullmatch(r"[0-9a-f]{32}", job_id) else None
    if job is None:
        raise errors.JobNotFound(f"no edition job with id '{job_id}'")
    return job


def _job_json(job):
    data = {
        "id": job["id"], "status": job["status"], "title": job["spec"]["title"],
        "done": job["done"], "total": job["total"], "pages": job["pages"],
        "errors": job["errors"],
        "created_at": job["created_at"].isoformat(), "updated_at": job["updated_at"].isoformat(),
    }
    if job["status"] == "done":
        data["pdf"] = url_for("matbaa.edition_pdf", job_id=job["id"])
        data["sha256"] = job["sha256"]
    return data


@bp.get("/articles")
def list_articles():
    page = _positive_int("page", 1)
    per_page = min(_positive_int("per_page", 20), 100)
    articles, total = _store().list(page=page, per_page=per_page)
    return jsonify({
        "page": page, "per_page": per_page, "total": total,
        "items": [{
            "id": a.id, "title": a.title, "section": a.section,
            "published_at": a.published_at.isoformat() if a.published_at else None,
            "revision": a.revision,
            "pdf": url_for("matbaa.article_pdf", article_id=a.id),
            "print": url_for("matbaa.article_print", article_id=a.id),
        } for a in articles],
    })


MAX_PAGE_NUMBER = 1_000_000   # a bound SQL offsets can hold (schemathesis found 2**63)


def _positive_int(name, default):
    raw = request.args.get(name, default)
    try:
        value = int(raw)
    except (TypeError, ValueError):
        value = 0
    if not 1 <= value <= MAX_PAGE_NUMBER:
        raise errors.OptionInvalid(name, [f"a whole number from 1 to {MAX_PAGE_NUMBER}"])
    return value


@bp.get("/health")
def health():
    checks = {}
    try:
        _store().ping()
        checks["store"] = {"ok": True}
    except errors.MatbaaError as exc:
        checks["store"] = {"ok": False, "error": exc.message_en}
    renderer = _renderer()
    checks["fonts"] = {"ok": True, "faces": len(renderer.fonts.faces),
                       "digest": renderer.fonts.digest}
    templates_ok = (renderer.templates.folder / "article.html").is_file()
    checks["templates"] = {"ok": templates_ok, "digest": renderer.templates.digest}
    writable, why = _cache().writable()
    checks["cache"] = {"ok": writable, **({"error": why} if why else {}), **_cache().stats()}
    checks["importers"] = _importers()
    # The text layer and joining are the product; a speed-only mend is only reported.
    broken = [m["name"] for m in renderer.mends if m["needed_for"] == "correctness"
              and not m["active"]]
    checks["engine"] = {"ok": not broken, "inactive": [
        {"name": m["name"], "needed_for": m["needed_for"], "why": m["why"]}
        for m in renderer.mends if not m["active"]]}
    pool = renderer.pool
    if pool is not None:
        # Still ok while workers warm up: renders wait for them.
        checks["render_processes"] = {"ok": True, "size": pool.size, "ready": pool.ready,
                                      "running": pool.running, "waiting": pool.waiting}
    ok = all(check["ok"] for check in checks.values())
    return jsonify({"ok": ok, "checks": checks}), 200 if ok else 503


def _importers():
    """Can pages and feeds be imported?  Their libraries load on first use (trafilatura,
    jusText and its lxml_html_clean, feedparser): one missing made every import a 500
    while /health said ok."""
    broken = {}
    for module in ("service.source", "service.feeds"):
        try:
            importlib.import_module(module)
        except ImportError as exc:
            broken[module] = f"{exc.__class__.__name__}: {exc}"
    return {"ok": not broken, **({"errors": broken} if broken else {})}


@bp.get("/version")
def version():
    import weasyprint

    renderer = _renderer()
    return jsonify({"matbaa": VERSION, "weasyprint": weasyprint.__version__,
                    "templates": renderer.templates.digest, "fonts": renderer.fonts.digest,
                    "mends": [{key: mend[key] for key in ("name", "active", "why",
                                                           "needed_for", "upstream")}
                              for mend in renderer.mends]})


@bp.get("/openapi.json")
def openapi():
    from .openapi import spec

    return jsonify(spec())


@bp.get("/assets/<mount>/<path:filename>")
def asset(mount, filename):
    """Fonts, the stylesheets and the brand's files for the browser's pages."""
    renderer = _renderer()
    if mount == "brand":
        data = renderer.brand.files.get(filename)
        if data is None:
            raise NotFound()
        response = Response(data, mimetype=mimetypes.guess_type(filename)[0])
        response.headers["Cache-Control"] = "public, max-age=300"
        return response
    folders = {"fonts": renderer.fonts.folder, "print": renderer.templates.folder,
               "site": renderer.templates.site_folder}
    if mount not in folders or not filename.endswith((".ttf", ".css", ".js")):
        raise NotFound()
    return send_from_directory(folders[mount], filename, max_age=86400)


@bp.get("/")
def home():
    from .plurals import count

    shown = 100
    articles, total = _store().list(page=1, per_page=shown)
    return site_page(
        "home.html", total=total, counted=count(total, "article"),
        shown=count(len(articles), "article"),
        articles=[{"title": a.title, "section": a.section,
                   "print_href": url_for("matbaa.article_print", article_id=a.id),
                   "pdf_href": url_for("matbaa.article_pdf", article_id=a.id)}
                  for a in articles],
        api_href=url_for("matbaa.openapi"), desk_href=url_for("desk.desk"))


def site_page(template, status=200, **context):
    """One of the service's own pages (templates/site: home, desk) with the brand, our
    fonts and stylesheet, and a Content-Security-Policy that allows its inline styles
    by hash."""
    renderer = _renderer()
    assets = url_for("matbaa.home") + "assets/"
    html = renderer.templates.site_html(
        template, site=_settings().site_name,
        font_css=Markup(renderer.fonts.font_face_css(assets + "fonts/")),
        stylesheet_href=assets + "site/site.css", accent=renderer.brand.color,
        logo_src=assets + renderer.brand.logo_src if renderer.brand.logo_src else "",
        **context)
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = security.page_policy(_settings(), html)
    return response


def init_app(app):
    app.register_blueprint(bp)
