"""Brand: the newsroom's own logo, accent colour and stylesheet, declared once.

``MATBAA_BRAND_LOGO`` (an SVG or PNG file), ``MATBAA_BRAND_COLOR`` (a CSS colour) and
``MATBAA_BRAND_STYLESHEET`` (the operator's own CSS, applied after ours) are read
once, when the renderer starts; a missing file, a file that is not what it claims or
a colour that is not one is refused then, with the setting's name, not at the first
render.  The files are held in memory and served from the asset origin's ``brand/``
mount, so WeasyPrint reaches them, and whatever the stylesheet names, only through
our fetcher; the print view links the same files under ``/assets/brand/``.

Every PDF, print view and edition cover uses them: the logo in the masthead (one
image, however many pages), the accent on the masthead's rule and name, the running
heads' rules and the cover.  The brand is part of the renderer's assets digest, so a
changed logo or colour makes new PDFs, not stale cached ones.
"""

import hashlib
from dataclasses import dataclass, field

from .settings import SettingsError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
LOGO_LIMIT = 2 * 1024 * 1024
STYLESHEET_LIMIT = 512 * 1024


@dataclass(frozen=True)
class Brand:
    """What a newsroom declared; empty fields keep Matbaa's own look."""

    color: str = ""                      # a CSS colour as the operator wrote it
    logo_name: str = ""                  # "logo.svg" or "logo.png"
    files: dict = field(default_factory=dict)   # name -> bytes, the brand/ mount
    stylesheet: str = ""                 # the operator's CSS

    @property
    def logo_src(self):
        """The logo's path under an asset base ("brand/logo.svg"), or ""."""
        return f"brand/{self.logo_name}" if self.logo_name else ""

    @property
    def css(self):
        """Our rules for the accent colour, then the operator's stylesheet."""
        rules = []
        if self.color:
            accent = self.color
            rules.append(
                f".masthead {{ border-bottom-color: {accent}; }}\n"
                f".masthead .site, .cover-site {{ color: {accent}; }}\n"
                f"@page {{ @top-right {{ border-bottom-color: {accent}; }} "
                f"@top-left {{ border-bottom-color: {accent}; }} }}\n"
                f".link-notes h2 {{ color: {accent}; }}\n")
        if self.stylesheet:
            rules.append(self.stylesheet)
        return "".join(rules)

    @property
    def digest(self):
        h = hashlib.sha256(self.color.encode())
        for name in sorted(self.files):
            h.update(name.encode() + b"\0" + self.files[name])
        return h.hexdigest()[:16]


def load_brand(settings):
    """The Brand of ``settings``; raises SettingsError naming the setting at fault."""
    color = settings.brand_color.strip()
    if color and not _is_colour(color):
        raise SettingsError(
            f"MATBAA_BRAND_COLOR={color!r} is not a CSS colour (e.g. #0b5d3b, "
            "rgb(11 93 59), darkgreen)")
    files, logo_name, stylesheet = {}, "", ""
    if settings.brand_logo:
        data = _read(settings.brand_logo, "MATBAA_BRAND_LOGO", LOGO_LIMIT)
        kind = _image_kind(data)
        if kind is None:
            raise SettingsError(
                f"MATBAA_BRAND_LOGO: {settings.brand_logo} is neither an SVG nor a PNG file")
        logo_name = f"logo.{kind}"
        files[logo_name] = data
    if settings.brand_stylesheet:
        data = _read(settings.brand_stylesheet, "MATBAA_BRAND_STYLESHEET", STYLESHEET_LIMIT)
        try:
            stylesheet = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SettingsError(f"MATBAA_BRAND_STYLESHEET: {settings.brand_stylesheet} is "
                                "not UTF-8 text") from None
    brand = Brand(color=color, logo_name=logo_name, files=files, stylesheet=stylesheet)
    if brand.css:
        # What the print view links (/assets/brand/brand.css) and WeasyPrint parses.
        files["brand.css"] = brand.css.encode("utf-8")
    return brand


def _read(path, setting, limit):
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SettingsError(f"{setting}: cannot read {path} ({exc.strerror or exc})") from None
    if len(data) > limit:
        raise SettingsError(f"{setting}: {path} is {len(data)} bytes, over {limit}")
    return data


def _image_kind(data):
    if data.startswith(PNG_SIGNATURE):
        return "png"
    import lxml.etree

    try:
        root = lxml.etree.fromstring(data, lxml.etree.XMLParser(
            resolve_entities=False, no_network=True, huge_tree=False))
    except lxml.etree.XMLSyntaxError:
        return None
    return "svg" if root.tag in ("{http://www.w3.org/2000/svg}svg", "svg") else None


def _is_colour(text):
    import tinycss2.color3

    return ";" not in text and "}" not in text and \
        tinycss2.color3.parse_color(text) not in (None, "currentColor")
