"""The newsroom's brand (service/brand.py): its logo, colour and stylesheet on what
readers receive, the PDF and the print view; bad values refused at start."""

import io
import subprocess

import pikepdf
import pytest
from PIL import Image

from service.app import create_app
from service.article import parse_article
from service.settings import Settings, SettingsError

from .conftest import sample

ACCENT = (11, 93, 59)            # #0b5d3b
LOGO_COLOUR = (200, 30, 40)


def png_logo(path):
    """A logo of our own: a red disc on white, 240 x 120."""
    image = Image.new("RGB", (240, 120), "white")
    for y in range(120):
        for x in range(240):
            if (x - 60) ** 2 + (y - 60) ** 2 < 50 ** 2:
                image.putpixel((x, y), LOGO_COLOUR)
    image.save(path, "PNG")
    return path


@pytest.fixture
def branded(tmp_path):
    css = tmp_path / "newsroom.css"
    css.write_text(".byline { letter-spacing: 0; }\n", encoding="utf-8")
    settings = Settings.from_env(
        data_dir=tmp_path / "data", brand_logo=png_logo(tmp_path / "logo.png"),
        brand_color="#0b5d3b", brand_stylesheet=css, site_name="صحيفة الاختبار")
    return create_app(settings)


def page_pixels(pdf, tmp_path, page=1, dpi=60):
    path = tmp_path / "page.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-f", str(page), "-l", str(page), "-png",
                    str(path), str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page-*.png"))
    image = Image.open(png).convert("RGB")
    png.unlink()
    return image


def near(colour, target, tolerance=40):
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target))


def count_pixels(image, target, box=None):
    region = image.crop(box) if box else image
    data = region.tobytes()
    return sum(1 for i in range(0, len(data), 3) if near(data[i:i + 3], target))


def logo_images(pdf):
    """The distinct image objects of the logo's size in the PDF."""
    found = set()
    with pikepdf.open(io.BytesIO(pdf)) as document:
        for page in document.pages:
            for image in page.get_images().values():
                if (int(image.Width), int(image.Height)) == (240, 120):
                    found.add(image.objgen)
    return found


def test_branded_pdf_shows_the_logo_and_the_accent(branded, tmp_path):
    client = branded.test_client()
    article = sample("arabic-printing-history")        # several pages
    pdf = client.post("/render", json=article).data
    with pikepdf.open(io.BytesIO(pdf)) as document:
        pages = len(document.pages)
        # The publisher is the site the article names, else MATBAA_SITE_NAME.
        assert str(document.docinfo["/publisher"]) == article["site"] == "الوطن العربي"
    assert pages > 1
    assert len(logo_images(pdf)) == 1

    first = page_pixels(pdf, tmp_path)
    top = (0, 0, first.width, first.height // 4)
    assert count_pixels(first, LOGO_COLOUR, top) > 100        # the disc, in the masthead
    assert count_pixels(first, ACCENT, top) > 100             # the name and its rule
    plain = create_app(Settings.from_env(data_dir=tmp_path / "plain")).test_client()
    unbranded = page_pixels(plain.post("/render", json=article).data, tmp_path)
    assert count_pixels(unbranded, LOGO_COLOUR, top) == 0
    assert count_pixels(unbranded, ACCENT, top) == 0
    # The running heads' rules take the accent on the later pages too.
    second = page_pixels(pdf, tmp_path, page=2, dpi=200).crop((0, 0, 1654, 300))
    data = second.tobytes()
    greenish = sum(1 for i in range(0, len(data), 3) if data[i + 1] - data[i] > 25)
    assert greenish > 200


def test_the_logo_is_embedded_once_in_an_edition(branded):
    store = branded.extensions["matbaa.store"]
    ids = []
    for name in ("kuwait-coalition-meeting", "arabic-printing-history",
                 "nova-digital-archive-platform"):
        store.upsert(parse_article(sample(name)))
        ids.append(sample(name)["id"])
    renderer = branded.extensions["matbaa.renderer"]
    pdf = renderer.edition_pdf("عدد الأسبوع", [store.get(i) for i in ids])
    assert len(logo_images(pdf)) == 1


def test_print_view_links_the_brand(branded):
    client = branded.test_client()
    store = branded.extensions["matbaa.store"]
    store.upsert(parse_article(sample("kuwait-coalition-meeting")))
    html = client.get("/articles/kuwait-coalition-meeting/print").get_data(as_text=True)
    assert '<img class="logo" src="/assets/brand/logo.png"' in html
    assert '<link rel="stylesheet" href="/assets/brand/brand.css">' in html
    logo = client.get("/assets/brand/logo.png")
    assert logo.status_code == 200 and logo.mimetype == "image/png"
    css = client.get("/assets/brand/brand.css").get_data(as_text=True)
    assert "#0b5d3b" in css and ".byline { letter-spacing: 0; }" in css
    assert client.get("/assets/brand/other.png").status_code == 404


@pytest.mark.parametrize("change, setting", [
    ({"brand_color": "not-a-colour"}, "MATBAA_BRAND_COLOR"),
    ({"brand_color": "red; } body { display: none"}, "MATBAA_BRAND_COLOR"),
    ({"brand_logo": "missing.svg"}, "MATBAA_BRAND_LOGO"),
    ({"brand_logo": "notes.txt"}, "MATBAA_BRAND_LOGO"),
    ({"brand_stylesheet": "missing.css"}, "MATBAA_BRAND_STYLESHEET"),
])
def test_bad_brand_is_refused_at_start_naming_the_setting(tmp_path, change, setting):
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    change = {k: tmp_path / v if k != "brand_color" else v for k, v in change.items()}
    settings = Settings.from_env(data_dir=tmp_path / "data", **change)
    with pytest.raises(SettingsError, match=setting):
        create_app(settings)


def test_an_svg_logo_is_taken(tmp_path):
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
                   '<rect width="200" height="100" fill="#c81e28"/></svg>', encoding="utf-8")
    app = create_app(Settings.from_env(data_dir=tmp_path / "data", brand_logo=svg))
    pdf = app.test_client().post("/render", json=sample("kuwait-coalition-meeting")).data
    first = page_pixels(pdf, tmp_path)
    assert count_pixels(first, LOGO_COLOUR, (0, 0, first.width, first.height // 4)) > 100


@pytest.mark.parametrize("kind", ["png", "svg"])
def test_archival_pdf_with_the_logo_stays_pdfa_and_pdfua(tmp_path, kind):
    """A raster logo asked viewers to interpolate it (PDF/A forbids it) and the logo
    needs alternative text for PDF/UA."""
    from service.template import RenderOptions

    from .test_archival import failures

    if kind == "png":
        logo = png_logo(tmp_path / "logo.png")
    else:
        logo = tmp_path / "logo.svg"
        logo.write_text('<svg xmlns="http://www.w3.org/2000/svg" width="200" height="100">'
                        '<rect width="200" height="100" fill="#c81e28"/></svg>',
                        encoding="utf-8")
    app = create_app(Settings.from_env(data_dir=tmp_path / "data", brand_logo=logo,
                                       brand_color="#0b5d3b"))
    renderer = app.extensions["matbaa.renderer"]
    pdf = renderer.pdf(parse_article(sample("kuwait-coalition-meeting")),
                       RenderOptions(archival="1")).pdf
    assert failures(pdf) == []
    assert count_pixels(page_pixels(pdf, tmp_path), LOGO_COLOUR) > 100
