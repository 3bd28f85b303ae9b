"""Security: the headers every answer carries, and the print view's content policy.

Article text is sanitised and kept as text (``sanitize``, ``normalize``); these
headers are the second wall, for whatever might still get through: a page of ours
runs no script but our own files from ``/assets/`` and no inline script at all,
loads nothing but its own assets, the images the operator allowed and ``data:``
images, and may be framed only by the origins in MATBAA_FRAME_ANCESTORS.

One WSGI middleware, outermost, so that answers made without Flask (the readers'
hot path) carry the same headers.  A view that knows more (the print view's inline
stylesheet, by hash) sets its own policy; the middleware never replaces one.
"""

import base64
import hashlib
import re

REFERRER_POLICY = "strict-origin-when-cross-origin"
# A style element of our own template: the page's @page and @font-face rules.
_STYLE = re.compile(r"<style>(.*?)</style>", re.DOTALL)


def html_policy(settings, *, styles=(), images=()):
    """The Content-Security-Policy of an HTML page of ours.

    ``styles``: the texts of the page's inline ``<style>`` elements, allowed by
    their hashes; ``images``: sources images may come from besides the page's own
    origin and ``data:``.
    """
    style_src = " ".join(["'self'", *(_hash(style) for style in styles)])
    return "; ".join([
        "default-src 'none'",
        "script-src 'self'",
        f"style-src {style_src}",
        "font-src 'self'",
        "img-src " + " ".join(["'self'", "data:", *images]),
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "object-src 'none'",
        f"frame-ancestors {settings.frame_ancestors}",
    ])


def document_policy(settings):
    """The policy of every other answer (JSON, PDF): it may load nothing."""
    return f"default-src 'none'; base-uri 'none'; frame-ancestors {settings.frame_ancestors}"


def page_policy(settings, page_html, images=()):
    """The policy of a page of ours whose ``<head>`` holds inline stylesheets."""
    head = page_html[:page_html.find("</head>")]
    return html_policy(settings, styles=_STYLE.findall(head), images=images)


def _hash(text):
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


class SecurityHeaders:
    """WSGI middleware: ``nosniff``, a referrer policy and a content policy on every answer."""

    def __init__(self, app, settings):
        self.app = app
        self.html = html_policy(settings)
        self.other = document_policy(settings)

    def __call__(self, environ, start_response):
        def with_headers(status, headers, exc_info=None):
            present = {name.lower(): value for name, value in headers}
            extra = [("X-Content-Type-Options", "nosniff"),
                     ("Referrer-Policy", REFERRER_POLICY)]
            if "content-security-policy" not in present:
                html = present.get("content-type", "").startswith("text/html")
                extra.append(("Content-Security-Policy", self.html if html else self.other))
            headers = [(n, v) for n, v in headers
                       if n.lower() not in ("x-content-type-options", "referrer-policy")]
            return start_response(status, headers + extra, exc_info)

        return self.app(environ, with_headers)
