"""The desk: archivists find stored articles and make editions in the browser.

``/desk`` signs in with an API key (MATBAA_API_KEYS): the key is checked once and the
session cookie (HttpOnly, SameSite=Strict, signed with MATBAA_SECRET_KEY) holds only a
fingerprint of it, so a key taken out of MATBAA_API_KEYS ends its sessions.  Without
keys, as for the API's writes, loopback clients are let in and others are not.  Every
form carries the session's CSRF token.  The pages are plain forms that work with no
script; ``desk.js`` (our own file, under the strict Content-Security-Policy) only
moves an edition's progress bar without reloading the page, which otherwise
refreshes itself.  Editions are made by the same jobs as ``POST /editions``.
"""

import hashlib
import hmac
import secrets
from datetime import date

from flask import Blueprint, abort, current_app, redirect, request, session, url_for

from . import errors
from .plurals import count

bp = Blueprint("desk", __name__)
PER_PAGE = 20


def _settings():
    return current_app.extensions["matbaa.settings"]


def _fingerprint(key):
    return hashlib.sha256(b"matbaa-desk:" + key.encode()).hexdigest()


def _signed_in():
    keys = _settings().api_key_list
    if not keys:
        from .http import FORWARDING_HEADERS, _is_loopback

        return _is_loopback(request.remote_addr) and not any(
            name in request.headers for name in FORWARDING_HEADERS)
    held = session.get("key")
    return isinstance(held, str) and bool(held) and any(
        hmac.compare_digest(held.encode(), _fingerprint(k).encode()) for k in keys)


def _csrf():
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(24)
    return session["csrf"]


def _check_csrf():
    given = request.form.get("csrf", "")
    # As bytes: compare_digest refuses a text that is not ASCII (a form can send any).
    if not given or not hmac.compare_digest(given.encode(), session.get("csrf", "").encode()):
        abort(400, "the form's token does not match this session; open the desk again")


def _page(template, status=200, **context):
    from .http import site_page

    response = site_page(
        template, status, csrf=_csrf(), script_src=url_for("matbaa.home") + "assets/site/desk.js",
        signed_in=_signed_in(), keys=bool(_settings().api_key_list), url_for=url_for,
        **{"refused": False, **context})
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/desk")
def desk():
    if not _signed_in():
        return _page("desk_sign_in.html", status=200 if _settings().api_key_list else 403)
    store = current_app.extensions["matbaa.store"]
    query = _query()
    found = _search(store, query) if query["searched"] else []
    page = max(1, min(_int(request.args.get("page"), 1), max(1, -(-len(found) // PER_PAGE))))
    shown = found[(page - 1) * PER_PAGE:page * PER_PAGE]
    from .http import _jobs

    recent = _jobs().recent(10)
    return _page("desk.html", query=query, found=len(found), counted=count(len(found), "article"),
                 articles=shown, page=page, pages=-(-len(found) // PER_PAGE),
                 sections=store.sections(), recent=recent,
                 page_href=lambda n: url_for("desk.desk", **{**_query_args(query), "page": n}))


@bp.post("/desk/sign-in")
def sign_in():
    _check_csrf()
    from .http import is_api_key

    given = request.form.get("key", "").strip()
    if not is_api_key(given):
        return _page("desk_sign_in.html", status=401, refused=True)
    session.clear()
    session["key"] = _fingerprint(given)
    return redirect(url_for("desk.desk"), 303)


@bp.post("/desk/sign-out")
def sign_out():
    _check_csrf()
    session.clear()
    return redirect(url_for("desk.desk"), 303)


@bp.post("/desk/editions")
def make_edition():
    if not _signed_in():
        abort(403)
    _check_csrf()
    from .editions import EditionSpec
    from .http import start_edition

    form = request.form
    options = {"paper": form.get("paper", "a4"), "digits": form.get("digits", "arab"),
               "archival": "1" if form.get("archival") else "0"}
    body = {"title": form.get("title", ""), "options": options}
    if form.get("scope") == "filter":
        query = _query(form)
        body["filter"] = {k: v for k, v in (("section", query["section"] or None),
                                             ("from", query["from"] or None),
                                             ("to", query["to"] or None)) if v}
        words = query["q"].split()
        if words:
            # Title words are the desk's own filter: the edition takes the ids found.
            store = current_app.extensions["matbaa.store"]
            found = [a.id for a in _search(store, query)]
            if not found:
                return _page("desk_error.html", status=422, error=errors.ArticleInvalid(
                    "articles", "no stored article matches the search",
                    "لا توجد مقالات تطابق البحث"))
            body = {**body, "articles": found}
            body.pop("filter")
    else:
        body["articles"] = form.getlist("ids")
    try:
        spec = EditionSpec.from_json(body, _settings())
    except errors.MatbaaError as exc:
        return _page("desk_error.html", status=exc.status, error=exc)
    job_id = start_edition(spec)
    return redirect(url_for("desk.edition", job_id=job_id), 303)


@bp.get("/desk/editions/<job_id>")
def edition(job_id):
    if not _signed_in():
        return redirect(url_for("desk.desk"), 303)
    from .http import _job, _job_json

    job = _job_json(_job(job_id))
    return _page("desk_edition.html", job=job, pages_counted=count(job["pages"], "page"),
                 status_href=url_for("matbaa.edition_status", job_id=job_id))


def _query(source=None):
    source = request.args if source is None else source
    query = {"q": source.get("q", "").strip()[:200],
             "section": source.get("section", "").strip()[:200],
             "from": _day(source.get("from", "")), "to": _day(source.get("to", ""))}
    query["searched"] = any(source.get(k) is not None for k in ("q", "section", "from", "to"))
    return query


def _query_args(query):
    return {k: query[k] for k in ("q", "section", "from", "to")}


def _day(text):
    try:
        return date.fromisoformat(text.strip()).isoformat() if text and text.strip() else ""
    except ValueError:
        return ""


def _int(text, default):
    try:
        return int(text)
    except (TypeError, ValueError):
        return default


def _search(store, query):
    found = store.find(section=query["section"] or None,
                       start=date.fromisoformat(query["from"]) if query["from"] else None,
                       end=date.fromisoformat(query["to"]) if query["to"] else None,
                       title_words=query["q"].split())
    # Newest first (the store gives the oldest first, the undated last).
    dated = [a for a in found if a.published_at]
    return dated[::-1] + [a for a in found if not a.published_at]


