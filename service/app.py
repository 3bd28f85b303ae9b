"""The Flask application factory."""


import limits
from flask import Flask
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from . import errors, http, observe
from .cache import PdfCache
from .hot import HotPath
from .pdfs import cached_pdf
from .editions.kept import FolderPages, keep_article_pages
from .prerender import Prerenders
from .security import SecurityHeaders
from .render import build_renderer
from .settings import Settings
from .store import Store


def create_app(settings=None, render_pool=False):
    """Build the app; ``settings`` default to ``Settings.from_env()``.

    With ``render_pool`` (as under ``matbaa serve``) renders run in
    MATBAA_RENDER_PROCESSES worker processes; else in the calling thread.
    """
    settings = settings or Settings.from_env()
    app = Flask(__name__, static_folder=None, template_folder=None)
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes
    app.json.ensure_ascii = False
    app.extensions["matbaa.settings"] = settings
    app.extensions["matbaa.store"] = Store(settings.store_url)
    # Built before the first request so a worker is warm: fonts checked and
    # registered, stylesheet parsed.
    renderer = app.extensions["matbaa.renderer"] = build_renderer(settings)
    if render_pool:
        from .pool import RenderPool

        renderer.pool = RenderPool(settings, settings.render_processes)
    else:
        renderer.warm_up()
    if settings.wordpress_url:
        from .render import VERSION
        from .wordpress import WordPress

        app.extensions["matbaa.wordpress"] = WordPress(settings, app.extensions["matbaa.store"],
                                                       VERSION)
    from .editions import Jobs

    app.extensions["matbaa.jobs"] = jobs = Jobs(app.extensions["matbaa.store"])
    if settings.broker_url:
        from .editions.tasks import make_celery

        app.extensions["matbaa.celery"] = make_celery(settings)
    elif render_pool:
        # Jobs left queued or running by a stopped service are taken up again.
        for job_id in jobs.unfinished():
            http.job_runner(app).submit(job_id)
    app.extensions["matbaa.cache"] = cache = PdfCache(settings.pdf_cache_dir,
                                                      settings.cache_max_bytes)
    # Uncached renders per client: in this process's memory (matbaa serve has one web
    # process; its render processes take no requests).
    app.extensions["matbaa.render_limiter"] = (
        MovingWindowRateLimiter(MemoryStorage()), limits.parse(settings.render_rate))
    errors.init_app(app)
    observe.init_app(app)
    kept = FolderPages(cache) if settings.keep_edition_pages == "1" and not settings.broker_url \
        else None

    def prerender(article, options):
        cached_pdf(cache, renderer, renderer.etag(article, options), options, lambda: article)
        if kept is not None:       # Celery keeps no pages of its own yet
            keep_article_pages(renderer, kept, article, options)

    app.extensions["matbaa.prerenders"] = Prerenders(
        prerender,
        settings.prerender_queue,
        on_skipped=app.extensions["matbaa.metrics"].prerenders_skipped.inc)
    http.init_app(app)
    # The desk's session cookie: signed, not readable by scripts, never sent by
    # another site's page.
    app.secret_key = settings.secret_key or _kept_secret(settings.data_dir)
    app.config.update(SESSION_COOKIE_NAME="matbaa_desk", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_PATH="/desk")
    from . import desk

    app.register_blueprint(desk.bp)
    app.wsgi_app = app.extensions["matbaa.hot"] = HotPath(
        app.wsgi_app, app.extensions["matbaa.store"], settings.hot_cache_bytes,
        app.extensions["matbaa.observer"])
    if settings.trusted_proxies:
        # The client's address (for limits and logs), scheme and host, from the proxies
        # we were told of, and no further.
        n = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n, x_port=n)
    # Outermost, so that every answer carries the headers, the hot path's too.
    app.wsgi_app = SecurityHeaders(app.wsgi_app, settings)
    return app


def _kept_secret(data_dir):
    """A random key made once and kept in DATA_DIR (readable by its owner only), so
    that every web process and restart signs sessions alike."""
    import os
    import secrets

    path = data_dir / "secret_key"
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:          # another process made it first
        return path.read_text(encoding="ascii").strip()
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(key)
    return key
