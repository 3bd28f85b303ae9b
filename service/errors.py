"""Errors that reach clients, and the one place that turns them into JSON answers."""

import logging

from flask import jsonify
from werkzeug.exceptions import HTTPException

from .plurals import count

log = logging.getLogger(__name__)


class MatbaaError(Exception):
    """An error with a status, a stable code and a message in Arabic and English."""

    status = 500
    code = "internal_error"
    message_ar = "حدث خطأ داخلي"
    message_en = "internal error"

    def __init__(self, message_en=None, message_ar=None, **details):
        super().__init__(message_en or self.message_en)
        if message_en:
            self.message_en = message_en
        if message_ar:
            self.message_ar = message_ar
        self.details = details

    def to_dict(self):
        """Everything needed to raise this error again in another process (``from_dict``)."""
        return {"class": type(self).__name__, "status": self.status, "code": self.code,
                "message_en": self.message_en, "message_ar": self.message_ar,
                "details": dict(self.details)}

    @classmethod
    def from_dict(cls, data):
        """The error ``to_dict`` described, of its own class where this process knows it."""
        kind = _error_classes().get(data.get("class"), MatbaaError)
        error = kind.__new__(kind)
        Exception.__init__(error, data["message_en"])
        error.message_en, error.message_ar = data["message_en"], data["message_ar"]
        error.details = dict(data.get("details") or {})
        error.status, error.code = data["status"], data["code"]
        for name in ("retry_after",):
            if name in error.details:
                setattr(error, name, error.details[name])
        return error

    def to_json(self):
        body = {"code": self.code, "message_ar": self.message_ar,
                "message_en": self.message_en}
        body.update(self.details)
        return {"error": body}


class BadRequest(MatbaaError):
    status, code = 400, "malformed_json"
    message_ar, message_en = "تعذّرت قراءة JSON في الطلب", "request body is not valid JSON"


class ArticleNotFound(MatbaaError):
    status, code = 404, "article_not_found"
    message_ar, message_en = "المقال غير موجود", "no article with this id"


class BodyTooLarge(MatbaaError):
    status, code = 413, "body_too_large"
    message_ar = "حجم الطلب أكبر من الحد المسموح"


class UnsupportedMediaType(MatbaaError):
    status, code = 415, "unsupported_media_type"
    message_ar = "نوع المحتوى غير مدعوم؛ أرسل application/json"
    message_en = "send the article as application/json"


class ArticleInvalid(MatbaaError):
    """The article JSON does not satisfy the contract; names the field and why."""

    status, code = 422, "invalid_article"

    def __init__(self, field, reason, message_ar=None, **details):
        super().__init__(
            f"field '{field}': {reason}",
            message_ar or f"الحقل «{field}» غير صالح: {reason}",
            field=field, **details)


class OptionInvalid(MatbaaError):
    status, code = 422, "invalid_option"

    def __init__(self, name, allowed):
        super().__init__(
            f"option '{name}' must be one of: {', '.join(allowed)}",
            f"قيمة الخيار «{name}» غير صالحة؛ القيم المسموحة: {', '.join(allowed)}",
            field=name, allowed=list(allowed))


class Unauthorized(MatbaaError):
    status, code = 401, "unauthorized"
    message_ar = "هذه العملية تتطلب مفتاح API صالحاً"
    message_en = "this operation needs a valid API key: Authorization: Bearer KEY"


class Forbidden(MatbaaError):
    status, code = 403, "forbidden"
    message_ar = "بلا مفاتيح API تُقبل هذه العملية من الجهاز المحلي فقط"
    message_en = ("without MATBAA_API_KEYS this operation is accepted from loopback only; "
                  "set MATBAA_API_KEYS to allow other clients")


class ForwardedWrite(Forbidden):
    """A write that came through a proxy, with no keys to tell who sent it."""

    code = "forwarded_write"

    def __init__(self):
        super().__init__(setting="MATBAA_API_KEYS")

    message_ar = ("وصل الطلب عبر وسيط (بروكسي)، وبلا مفاتيح API لا تُقبل الكتابة إلا من الجهاز "
                  "المحلي مباشرة؛ اضبط MATBAA_API_KEYS")
    message_en = ("this write came through a proxy (X-Forwarded-For, Forwarded or X-Real-IP), "
                  "so its client cannot be told from loopback; set MATBAA_API_KEYS and send "
                  "Authorization: Bearer KEY")


class JobStalled(MatbaaError):
    status, code = 503, "job_stalled"
    message_ar = "توقف إعداد النسخة دون تقدّم مرات عدة؛ أعد طلبها"

    def __init__(self, seconds, attempts):
        super().__init__(f"the edition made no progress for {seconds} s, {attempts} times "
                         "over; ask for it again (MATBAA_JOB_STALL sets how long is too long)")


class RenderTooLong(MatbaaError):
    status, code = 503, "render_timeout"
    message_ar = "استغرق إنشاء الملف وقتاً أطول من المسموح"


class RenderBusy(MatbaaError):
    status, code = 429, "render_busy"
    message_ar = "الخدمة مشغولة بطلبات أخرى؛ أعد المحاولة بعد قليل"
    message_en = "too many renders are waiting; try again shortly"


class RenderFailed(MatbaaError):
    status, code = 503, "render_failed"
    message_ar = "توقف عامل الإنشاء أثناء العمل؛ أعد المحاولة"
    message_en = "the render worker stopped during this render; try again"


class ImporterUnavailable(MatbaaError):
    """A library the page or feed importer needs is not installed (see /health)."""

    status, code = 503, "importer_unavailable"
    message_ar = "أداة استيراد الصفحات والموجزات غير متاحة على هذا الخادم"
    message_en = "the page and feed importer cannot be loaded on this server; see /health"


class TooManyPages(MatbaaError):
    status, code = 422, "too_many_pages"
    message_ar = "عدد صفحات المستند أكبر من الحد المسموح"


class JobNotFound(MatbaaError):
    status, code = 404, "job_not_found"
    message_ar, message_en = "لا توجد مهمة بهذا المعرّف", "no job with this id"


class EditionNotReady(MatbaaError):
    status, code = 409, "edition_not_ready"
    message_ar = "النسخة لم تجهز بعد"
    message_en = "the edition is not ready; see its status"


class RenderRateLimited(MatbaaError):
    """One client caused more uncached renders than MATBAA_RENDER_RATE allows."""

    status, code = 429, "render_rate_limited"
    message_ar = "طلبت نسخاً جديدة كثيرة في وقت قصير؛ أعد المحاولة بعد قليل"

    def __init__(self, rate, retry_after):
        super().__init__(
            f"more uncached renders from this client than {rate} allows; try again in "
            f"{retry_after} s, or raise MATBAA_RENDER_RATE",
            f"{self.message_ar} (بعد {count(retry_after, 'second')})", retry_after=retry_after,
            setting="MATBAA_RENDER_RATE")
        self.retry_after = retry_after


class QueueUnavailable(MatbaaError):
    status, code = 503, "queue_unavailable"
    message_ar = "طابور المهام غير متاح مؤقتاً؛ لم تُنشأ المهمة"
    message_en = "the job queue (MATBAA_BROKER_URL) is unavailable; no job was made"


class StoreUnavailable(MatbaaError):
    status, code = 503, "store_unavailable"
    message_ar, message_en = "مخزن المقالات غير متاح مؤقتاً", "the article store is unavailable"
    # A lost or refused connection (the database restarting): worth trying again.
    transient = False


class RevisionMismatch(MatbaaError):
    """A conditional write (If-Match) of an article that has changed since it was read."""

    status, code = 412, "revision_mismatch"

    def __init__(self, current):
        if current is None:
            super().__init__("If-Match was sent, but no article with this id is stored",
                             "أُرسل If-Match ولا يوجد مقال مخزن بهذا المعرّف", current=None)
        else:
            super().__init__(
                f"the article has changed: its revision is now {current}; read it again "
                "(GET /articles/<id>) and send that revision in If-Match",
                f"تغيّر المقال منذ قراءته، ومراجعته الآن {current}", current=current)


class ArticleNotPublic(MatbaaError):
    status, code = 403, "article_not_public"
    message_ar = "المقال غير منشور للعموم (مسودة أو خاص)"
    message_en = "the post is not public (a draft, private or protected)"


class SourceUnavailable(MatbaaError):
    """The article's source (WordPress) could not be reached or gave a broken answer."""

    status, code = 502, "source_unavailable"
    message_ar = "تعذّر الوصول إلى موقع المصدر"


class SourceTimeout(MatbaaError):
    status, code = 504, "source_timeout"
    message_ar = "لم يُجب موقع المصدر في الوقت المسموح"


def _error_classes():
    found, todo = {}, [MatbaaError]
    while todo:
        kind = todo.pop()
        found[kind.__name__] = kind
        todo.extend(kind.__subclasses__())
    return found


def _http_error(exc):
    """Werkzeug's own errors (404 route, 405, 413) as our JSON shape."""
    if exc.code == 413:
        return BodyTooLarge(
            "request body is larger than the limit; raise MATBAA_MAX_BODY_BYTES")
    error = MatbaaError(exc.description or exc.name, _ARABIC_STATUS.get(exc.code))
    error.status = exc.code
    error.code = exc.name.lower().replace(" ", "_")
    return error


def _drain_body(limit=64 * 1024 * 1024):
    """Read (and drop) the rest of an oversized body, so the client, still sending, gets
    our 413 instead of a connection reset; past ``limit`` the connection is given up."""
    from flask import request

    stream = request.environ.get("wsgi.input")
    if stream is None:
        return
    try:
        left = min(request.content_length or limit, limit)
        while left > 0:
            chunk = stream.read(min(left, 1024 * 1024))
            if not chunk:
                break
            left -= len(chunk)
    except (OSError, ValueError):
        pass


_ARABIC_STATUS = {
    400: "طلب غير صالح", 404: "الصفحة غير موجودة", 405: "الطريقة غير مسموحة",
    406: "الصيغة المطلوبة غير متاحة",
}


def init_app(app):
    @app.errorhandler(MatbaaError)
    def handle_matbaa(exc):
        response = jsonify(exc.to_json())
        if exc.status in (429, 502, 503, 504):
            response.headers["Retry-After"] = str(getattr(exc, "retry_after", 5))
        if exc.status == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="matbaa"'
        return response, exc.status

    @app.errorhandler(HTTPException)
    def handle_http(exc):
        error = _http_error(exc)
        if exc.code == 413:
            _drain_body()
        return jsonify(error.to_json()), error.status

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        # The cause goes to the log; the client gets a safe, fixed message.
        log.exception("unhandled error")
        error = MatbaaError()
        return jsonify(error.to_json()), 500
