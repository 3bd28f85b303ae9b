"""Memory drift over repeated renders: raw WeasyPrint against Matbaa, each in a fresh process.

    .venv/bin/python bench/drift.py [RENDERS]

Prints RSS before and after RENDERS renders (default 300) of the seed-shaped
sample, for raw WeasyPrint (same HTML, fonts, stylesheet and one reused
FontConfiguration) and for Matbaa's render path.
"""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def rss_mb():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def renderer_for(mode):
    from service.article import parse_article
    from service.settings import Settings

    settings = Settings.from_env()
    article = parse_article(json.loads(
        (ROOT / "service/samples/kuwait-coalition-meeting.json").read_text(encoding="utf-8")))
    if mode == "matbaa":
        from service.render import Renderer

        renderer = Renderer(settings)
        return lambda: renderer.pdf(article)
    from run import raw_weasyprint
    from service.template import RenderOptions

    templates, _fonts, render = raw_weasyprint(settings)
    html = templates.article_html(article, RenderOptions(), settings.site_name, font_css="")
    return lambda: render(html)

def measure(mode, renders):
    render = renderer_for(mode)
    for _ in range(5):
        render()
    before = rss_mb()
    for _ in range(renders):
        render()
    after = rss_mb()
    print(f"{mode}: {before:.1f} MB -> {after:.1f} MB after {renders} renders "
          f"({after - before:+.1f} MB)")


if __name__ == "__main__":
    if len(sys.argv) > 2:
        measure(sys.argv[2], int(sys.argv[1]))
    else:
        renders = sys.argv[1] if len(sys.argv) > 1 else "300"
        for mode in ("raw", "matbaa"):
            subprocess.run([sys.executable, __file__, renders, mode], check=True)
