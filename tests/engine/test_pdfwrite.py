"""The PDF writer's changes: streams deflated at level 6, PNG rows taken as they are;
the same pages as WeasyPrint's own writer."""

import base64
import contextlib
import io
import zlib

import pikepdf
import pytest
from PIL import Image

from service.engine import pdfwrite


@contextlib.contextmanager
def weasyprint_as_it_is():
    pdfwrite.uninstall()
    try:
        yield
    finally:
        pdfwrite.install()


def png(mode, size=(40, 24), **save):
    """A PNG with a gradient (rows that differ, so that the PNG filters matter)."""
    image = Image.new(mode, size)
    image.putdata([((x * 7 + y * 3) % 256 if mode in ("L", "P") else
                    ((x * 7) % 256, (y * 11) % 256, (x * y) % 256))
                   for y in range(size[1]) for x in range(size[0])])
    out = io.BytesIO()
    image.save(out, "PNG", **save)
    return out.getvalue()


def document(*pngs):
    images = "".join(f'<img style="width: 40mm" src="data:image/png;base64,'
                     f'{base64.b64encode(data).decode()}">' for data in pngs)
    return f'<html lang="ar" dir="rtl"><body><p>صورة</p>{images}</body></html>'


def images(pdf):
    """(raw stream bytes, decoded pixels) of each image in the PDF, in page order."""
    found = []
    with pikepdf.open(io.BytesIO(pdf)) as document_:
        for page in document_.pages:
            xobjects = page.Resources.get("/XObject", {})
            for name in sorted(xobjects.keys()):
                image = xobjects[name]
                if image.get("/Subtype") != pikepdf.Name.Image:
                    continue
                pixels = pikepdf.PdfImage(image).as_pil_image()
                found.append((image.read_raw_bytes(), pixels.mode, pixels.tobytes()))
    return found


def noise_png(size=(400, 300)):
    """An RGB PNG that does not compress: Pillow writes its rows in several IDAT chunks."""
    import random

    out = io.BytesIO()
    data = random.Random(7).randbytes(size[0] * size[1] * 3)
    Image.frombytes("RGB", size, data).save(out, "PNG")
    return out.getvalue()


def test_pngs_written_by_pillow_give_the_same_image_bytes(renderer):
    """Greyscale and RGB from Pillow (our QR codes, what WeasyPrint converts): the
    same compressed rows as WeasyPrint's encoding again gives."""
    noisy = noise_png()
    assert noisy.count(b"IDAT") > 1
    html = document(png("L"), png("RGB"), noisy)
    ours = images(renderer.html_to_pdf(html))
    with weasyprint_as_it_is():
        theirs = images(renderer.html_to_pdf(html))
    assert len(ours) == 3
    assert ours == theirs


def test_png_from_another_encoder_keeps_its_rows_and_its_pixels(renderer):
    """Compressed otherwise (here at level 1 with one filter): the file's own rows go
    into the PDF — not what Pillow gives again — and read back as the same pixels."""
    data = png("RGB", compress_level=1)
    rows = pdfwrite.png_rows(Image.open(io.BytesIO(data)))
    assert rows is not None
    ours = images(renderer.html_to_pdf(document(data)))
    with weasyprint_as_it_is():
        theirs = images(renderer.html_to_pdf(document(data)))
    assert ours[0][0] == rows != theirs[0][0]
    assert ours[0][1:] == theirs[0][1:]


@pytest.mark.parametrize("mode, save", [
    ("P", {}),                       # palette: WeasyPrint converts it to RGB first
    ("I;16", {}),                    # 16 bits per sample
    ("LA", {}),                      # alpha goes to a mask: encoded again
    ("RGB", {"format": "JPEG"}),     # not a PNG
])
def test_other_images_are_not_taken_as_they_are(mode, save):
    image = Image.new(mode, (8, 8))
    out = io.BytesIO()
    image.save(out, **({"format": "PNG"} | save))
    assert pdfwrite.png_rows(Image.open(io.BytesIO(out.getvalue()))) is None


def test_interlaced_png_is_not_taken_as_it_is():
    # Pillow writes no interlaced PNG: set the IHDR's interlace flag (and its CRC)
    # of a small one; only the header is read.
    data = bytearray(png("L", (8, 8)))
    data[28] = 1
    data[29:33] = zlib.crc32(bytes(data[12:29])).to_bytes(4, "big")
    assert Image.open(io.BytesIO(bytes(data))).info.get("interlace") == 1
    assert pdfwrite.png_rows(Image.open(io.BytesIO(bytes(data)))) is None


def test_streams_are_deflated_at_level_6_with_the_same_content(renderer):
    from ..conftest import sample
    from service.article import parse_article

    article = parse_article(sample("kuwait-coalition-meeting"))
    ours = renderer.pdf(article).pdf
    with weasyprint_as_it_is():
        theirs = renderer.pdf(article).pdf

    def streams(pdf):
        with pikepdf.open(io.BytesIO(pdf)) as document_:
            return [(obj.read_raw_bytes(), obj.read_bytes()) for obj in document_.objects
                    if isinstance(obj, pikepdf.Stream)
                    and obj.get("/Filter") == pikepdf.Name.FlateDecode
                    and "/DecodeParms" not in obj     # not images
                    and obj.get("/Type") != pikepdf.Name.XRef]  # offsets differ

    ours, theirs = streams(ours), streams(theirs)
    assert len(ours) == len(theirs) > 10           # page contents, fonts, ToUnicode maps
    assert [decoded for _raw, decoded in ours] == [decoded for _raw, decoded in theirs]
    for raw, decoded in ours:
        level_6 = zlib.compressobj(6)
        assert raw == level_6.compress(decoded) + level_6.flush()
    assert sum(len(raw) for raw, _ in ours) > sum(len(raw) for raw, _ in theirs)


def stream_length_failures(pdf):
    import page

    return [f.rule_id for f in page.validate_pdf_bytes(pdf, profile="3a").failures
            if f.rule_id.startswith("PDFA3A-STREAM-LENGTH")]


def pdf_with_contents(data):
    """A one-page PDF written by pydyf whose page content is ``data``, deflated."""
    import pydyf

    document_ = pydyf.PDF()
    contents = pydyf.Stream([data], compress=True)
    document_.add_object(contents)
    document_.add_page(pydyf.Dictionary({
        "Type": "/Page", "Parent": document_.pages.reference,
        "MediaBox": pydyf.Array([0, 0, 200, 200]), "Contents": contents.reference}))
    out = io.BytesIO()
    document_.write(out)
    return out.getvalue()


def ends_with_cr(data):
    compressed = zlib.compressobj(pdfwrite.LEVEL)
    return (compressed.compress(data) + compressed.flush()).endswith(b"\r")


def test_a_stream_ending_with_cr_keeps_its_length_readable():
    # Page contents whose deflated bytes end with CR (their Adler-32 does), as an
    # archival article's page did.
    data = next(content for n in range(2000)
                if ends_with_cr(content := f"0 0 {n} 10 re f".encode()))
    ours = pdf_with_contents(data)
    with weasyprint_as_it_is():
        theirs = pdf_with_contents(data)
    assert b"\r\r\nendstream" in ours and b"\r\r\nendstream" not in theirs
    assert stream_length_failures(theirs) == ["PDFA3A-STREAM-LENGTH-001"]
    assert stream_length_failures(ours) == []
    with pikepdf.open(io.BytesIO(ours)) as document_:
        assert document_.pages[0].Contents.read_bytes() == data
