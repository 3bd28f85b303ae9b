"""Build the bundled fonts from Debian's ``fonts-noto-core`` package, reproducibly.

Run from the project root::

    .venv/bin/python fonts/build.py            # downloads the .deb with apt-get
    .venv/bin/python fonts/build.py --deb X.deb

The upstream files are OFL-1.1 Noto fonts.  We subset them to the scripts an
Arabic news article uses (Arabic, Latin, punctuation) so each worker loads and
WeasyPrint re-subsets less; hinting is dropped because PDF viewers do not use
TrueType hinting for print.  ``manifest.json`` records where every file came
from and its sha256, and is what the service checks at start-up.
"""

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from fontTools.ttLib import TTFont

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from service.fontprep import ARABIC_RANGES, LATIN_RANGES, build_one  # noqa: E402

PACKAGE = "fonts-noto-core"
UPSTREAM_DIR = "usr/share/fonts/truetype/noto"

# (output file, CSS family, weight, style, role, upstream file, ranges)
FONTS = [
    ("MatbaaNaskh-Regular.ttf", "Matbaa Naskh", 400, "normal", "body",
     "NotoNaskhArabic-Regular.ttf", ARABIC_RANGES),
    ("MatbaaNaskh-Bold.ttf", "Matbaa Naskh", 700, "normal", "body",
     "NotoNaskhArabic-Bold.ttf", ARABIC_RANGES),
    ("MatbaaKufi-Regular.ttf", "Matbaa Kufi", 400, "normal", "heading",
     "NotoKufiArabic-Regular.ttf", ARABIC_RANGES),
    ("MatbaaKufi-Bold.ttf", "Matbaa Kufi", 700, "normal", "heading",
     "NotoKufiArabic-Bold.ttf", ARABIC_RANGES),
    ("MatbaaLatin-Regular.ttf", "Matbaa Latin", 400, "normal", "latin",
     "NotoSerif-Regular.ttf", LATIN_RANGES),
    ("MatbaaLatin-Bold.ttf", "Matbaa Latin", 700, "normal", "latin",
     "NotoSerif-Bold.ttf", LATIN_RANGES),
    ("MatbaaLatin-Italic.ttf", "Matbaa Latin", 400, "italic", "latin",
     "NotoSerif-Italic.ttf", LATIN_RANGES),
    ("MatbaaLatinSans-Regular.ttf", "Matbaa Latin Sans", 400, "normal", "latin",
     "NotoSans-Regular.ttf", LATIN_RANGES),
    ("MatbaaLatinSans-Bold.ttf", "Matbaa Latin Sans", 700, "normal", "latin",
     "NotoSans-Bold.ttf", LATIN_RANGES),
]


def sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch_deb(workdir):
    subprocess.run(["apt-get", "download", PACKAGE], cwd=workdir, check=True)
    return next(Path(workdir).glob(f"{PACKAGE}_*.deb"))


def extract_deb(deb, workdir):
    """Unpack data.tar.* of a .deb with dpkg-deb (always present on Debian)."""
    target = Path(workdir) / "root"
    subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    version = subprocess.run(
        ["dpkg-deb", "-f", str(deb), "Version"], check=True, capture_output=True,
        text=True).stdout.strip()
    return target, version


def ofl_text(copyright_file):
    """Return the OFL-1.1 text from a Debian machine-readable copyright file."""
    lines = Path(copyright_file).read_text(encoding="utf-8").splitlines()
    # The licence text is the stand-alone paragraph, the last with this header.
    start = len(lines) - 1 - lines[::-1].index("License: OFL-1.1")
    text = []
    for line in lines[start + 1:]:
        if line and not line.startswith(" "):
            break
        line = line[1:]
        text.append("" if line == "." else line)
    return "SIL Open Font License, Version 1.1\n\n" + "\n".join(text).strip() + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--deb", help=f"a downloaded {PACKAGE} .deb")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as workdir:
        deb = Path(args.deb) if args.deb else fetch_deb(workdir)
        root, version = extract_deb(deb, workdir)
        manifest = {"package": PACKAGE, "package_version": version, "fonts": []}
        for out, family, weight, style, role, upstream, ranges in FONTS:
            source = root / UPSTREAM_DIR / upstream
            twins, text_glyphs = build_one(source, HERE / out, ranges)
            name = TTFont(HERE / out)["name"]
            manifest["fonts"].append({
                "file": out, "family": family, "weight": weight, "style": style,
                "role": role, "version": name.getDebugName(5).split(";")[0].removeprefix("Version ").strip(),
                "sha256": sha256(HERE / out), "licence": "OFL-1.1",
                "origin": f"Debian {PACKAGE} {version}: {UPSTREAM_DIR}/{upstream}"
                          f" ({name.getDebugName(1)}), subset by fonts/build.py",
                "upstream_sha256": sha256(source),
                # glyph id of each mark -> glyph id of its invisible twin
                "mark_twins": {str(mark): twin for mark, twin in sorted(twins.items())},
                # invisible glyphs the text layer draws: a justified space, U+200F
                "text_glyphs": text_glyphs,
            })
        (HERE / "OFL.txt").write_text(
            ofl_text(root / "usr/share/doc" / PACKAGE / "copyright"), encoding="utf-8")
        (HERE / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    print(f"built {len(FONTS)} fonts into {HERE.name}/")


if __name__ == "__main__":
    main()
