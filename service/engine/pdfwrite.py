"""Writing the PDF: WeasyPrint's writer, made cheaper in two places and stricter in
one; the same pages.

**Streams are deflated at zlib's default level (6), not 9.**  pydyf compresses
every content stream and embedded font at level 9: ~6% of a two-page article's
render in a py-spy profile, for 0.3% fewer bytes than level 6 (seed article
36,373 → 36,484 bytes; 33 pages 194,063 → 196,722).  A/B with the change below:
3–5% less time (seed, a 10-page article, an edition part).

**A PNG goes into the PDF as it is.**  For a greyscale or RGB PNG WeasyPrint
decodes the file and encodes it again with Pillow only to take the compressed
rows (IDAT) out of the new file; a PDF reads a PNG's IDAT directly (FlateDecode
with PNG predictors, which WeasyPrint declares).  The rows of the file itself
are taken when they can be read that way: 8 bits per sample, greyscale or RGB,
not interlaced.  Anything else (palette, 16-bit, alpha, interlaced) is encoded
again as before.  For a PNG written by Pillow — our QR codes, every image
WeasyPrint converted — the bytes are the same; for another encoder's the
compressed bytes differ and the pixels do not.  Each article's QR code was
encoded again in every render (the seed's is a 296-px square): 4% of an edition
part's time in a py-spy profile.

**A stream whose data ends with a carriage return ends with CR LF.**  pydyf writes
``stream``, the data, LF, ``endstream``.  Deflated data ends with the Adler-32 of
what it holds, so about one stream in 256 ends with the byte CR; then CR LF stands
before ``endstream``, and a validator reading it back as the end-of-line marker
finds a /Length one byte longer than the data (page-validation's
PDFA3A-STREAM-LENGTH-001 on an archival article).  Such a stream gets a CR LF of
its own after its data, so the marker is CR LF whichever way it is read, and the
/Length is the same.

tests/engine/test_pdfwrite.py checks all three.
"""

import io
import struct
import types
import zlib

LEVEL = 6
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def install():
    """Both mends of this module (for tests); ``engine.install`` is the way in."""
    for mend in MENDS:
        if not mend.active():
            mend.prepare(None)()


def _deflate_active():
    import pydyf

    return getattr(pydyf.zlib, "matbaa_pdfwrite", False)


def _prepare_deflate(_context):
    import pydyf

    from . import Refused

    if pydyf.zlib is not zlib:
        raise Refused("pydyf.zlib is not the zlib module")

    def apply():
        pydyf.zlib = _zlib_at(LEVEL)

    return apply


def _png_rows_active():
    from weasyprint import images

    return getattr(images.RasterImage.__dict__["_get_png_data"].__func__,
                   "matbaa_pdfwrite", False)


def _prepare_png_rows(_context):
    import inspect

    from weasyprint import images

    from . import Refused

    method = images.RasterImage.__dict__["_get_png_data"]
    if not isinstance(method, staticmethod):
        raise Refused("RasterImage._get_png_data is not a static method")
    original = method.__func__
    if str(inspect.signature(original)) != "(pillow_image)":
        raise Refused(f"RasterImage._get_png_data{inspect.signature(original)} is not the "
                      "expected (pillow_image)")

    def _get_png_data(pillow_image):
        rows = png_rows(pillow_image)
        return original(pillow_image) if rows is None else rows

    _get_png_data.matbaa_pdfwrite = True
    _get_png_data.original = original

    def apply():
        images.RasterImage._get_png_data = staticmethod(_get_png_data)

    return apply


def _stream_eol_active():
    import pydyf

    return getattr(pydyf.Stream.__dict__["data"].fget, "matbaa_pdfwrite", False)


def _prepare_stream_eol(_context):
    import pydyf

    from . import Refused

    prop = pydyf.Stream.__dict__["data"]
    if not isinstance(prop, property):
        raise Refused("pydyf.Stream.data is not a property")
    original = prop.fget
    if not original(pydyf.Stream([b"q\r"])).endswith(b"\nstream\nq\r\nendstream"):
        raise Refused("pydyf.Stream.data does not write stream LF, the data, LF endstream")

    def data(self):
        written = original(self)
        if written.endswith(b"\r\nendstream"):
            written = written[:-len(b"\nendstream")] + b"\r\nendstream"
        return written

    data.matbaa_pdfwrite = True
    data.original = original

    def apply():
        pydyf.Stream.data = property(data)

    return apply


def _mends():
    from . import CORRECTNESS, SPEED, Mend

    return [
        Mend("deflate-level", SPEED, ("pydyf.zlib",),
             "streams are deflated at zlib's level 6 instead of 9: a fraction of a percent "
             "larger, a few percent faster", "pydyf-streams-deflated-at-level-9",
             _prepare_deflate, _deflate_active),
        Mend("png-rows", SPEED, ("weasyprint.images.RasterImage._get_png_data",),
             "a PNG's compressed rows go into the PDF as they are, not decoded and encoded "
             "again", "weasyprint-pngs-encoded-again", _prepare_png_rows, _png_rows_active),
        Mend("stream-eol", CORRECTNESS, ("pydyf.Stream.data",),
             "a stream whose data ends with CR ends with CR LF, so that validators read its "
             "/Length as written (PDF/A)", "pydyf-stream-data-ending-with-cr",
             _prepare_stream_eol, _stream_eol_active),
    ]


def uninstall():
    """WeasyPrint's own writer again (for tests that compare the two)."""
    import pydyf
    from weasyprint import images

    pydyf.zlib = zlib
    data = pydyf.Stream.__dict__["data"].fget
    if getattr(data, "matbaa_pdfwrite", False):
        pydyf.Stream.data = property(data.original)
    current = images.RasterImage.__dict__["_get_png_data"].__func__
    if getattr(current, "matbaa_pdfwrite", False):
        images.RasterImage._get_png_data = staticmethod(current.original)


def _zlib_at(level):
    """The zlib module as pydyf sees it, with its level 9 replaced by ``level``."""
    shim = types.SimpleNamespace(**{name: getattr(zlib, name) for name in dir(zlib)
                                    if not name.startswith("__")})

    def compressobj(_level=None, *args, **kwargs):
        kwargs.pop("level", None)     # pydyf asks for 9
        return zlib.compressobj(level, *args, **kwargs)

    shim.compressobj = compressobj
    shim.matbaa_pdfwrite = True
    return shim


def png_rows(pillow_image):
    """The IDAT data of the PNG file ``pillow_image`` was opened from, if a PDF can
    take it as it is (see the module's docstring); else None."""
    if pillow_image.format != "PNG" or pillow_image.mode not in ("L", "RGB"):
        return None
    source = getattr(pillow_image, "fp", None)
    if not isinstance(source, io.BytesIO):
        return None
    data = source.getvalue()
    if data[:8] != PNG_SIGNATURE or data[12:16] != b"IHDR":
        return None
    _w, _h, depth, colour, _compression, _filter, interlace = struct.unpack(
        "!IIBBBBB", data[16:29])
    if depth != 8 or colour not in (0, 2) or interlace != 0:
        return None
    rows, position = [], 8
    while position + 8 <= len(data):
        length, kind = struct.unpack("!I4s", data[position:position + 8])
        if kind == b"IDAT":
            rows.append(data[position + 8:position + 8 + length])
        elif kind == b"IEND":
            break
        position += 12 + length
    return b"".join(rows) or None


MENDS = _mends()
