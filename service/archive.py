"""Archive: a back catalogue as one PDF/A per article, in a BagIt bag.

``matbaa archive --from --to OUT_DIR`` writes ``OUT_DIR/data/<id>.pdf`` (tagged PDF/A-3a,
the article's JSON attached) with ``<id>.pdf.sha256`` beside it, and the bag's
``bagit.txt``, ``bag-info.txt`` and ``manifest-sha256.txt``.  A file counts as
done only once its text layer reads back as the article (``service.verify``).
Run again, it keeps every file whose checksum still matches, redoes the rest, and
lists failures in ``failures.txt``; the command exits non-zero if there are any.
"""

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path

from .errors import MatbaaError
from .files import file_sha256, recorded_sha256, write_with_sha256
from .verify import verify_pdf


@dataclass
class Outcome:
    written: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    failed: list = field(default_factory=list)     # (article id, reason)


def _intact(pdf_path):
    """Already archived: the PDF is there and matches the checksum beside it."""
    recorded = recorded_sha256(pdf_path)
    return recorded is not None and pdf_path.is_file() and file_sha256(pdf_path) == recorded


def archive(articles, out_dir, renderer, *, options=None, threshold=0.99, workers=1,
            on_done=None):
    """Archive ``articles`` into the bag at ``out_dir``; returns an Outcome."""
    out_dir = Path(out_dir)
    data = out_dir / "data"
    data.mkdir(parents=True, exist_ok=True)
    options = replace(options or renderer.default_options(), archival="1")
    outcome = Outcome()

    def one(article):
        target = data / f"{article.id}.pdf"
        if _intact(target):
            return "kept", article.id, None
        try:
            pdf = renderer.pdf(article, options).pdf
        except MatbaaError as exc:
            return "failed", article.id, f"{exc.code}: {exc.message_en}"
        failure = []

        def reads_back(path):
            report = verify_pdf(path, article, renderer.fonts)
            if not report.ok(threshold):
                score = report.scores["poppler"]
                failure.append(
                    f"text layer check failed: {score.ratio:.2%} of words in order, "
                    f"{score.letters_dropped} letters dropped, numbers lost: "
                    f"{' '.join(score.numbers_lost[:5]) or 'none'}, missing glyphs: "
                    + (" ".join(f"U+{ord(c):04X}" for c in report.missing_glyphs) or "none"))
            return not failure

        if write_with_sha256(target, pdf, check=reads_back) is None:
            return "failed", article.id, failure[0]
        return "written", article.id, None

    with ThreadPoolExecutor(max_workers=max(1, workers)) as executor:
        for kind, article_id, reason in executor.map(one, articles):
            if kind == "failed":
                outcome.failed.append((article_id, reason))
            else:
                getattr(outcome, kind).append(article_id)
            if on_done is not None:
                on_done(kind, article_id)
    _write_bag(out_dir, outcome.failed)
    return outcome


def _write_bag(out_dir, failed):
    """bagit.txt, bag-info.txt and manifest-sha256.txt over everything under data/."""
    data = out_dir / "data"
    files = sorted(p for p in data.rglob("*") if p.is_file() and not p.name.startswith(".tmp-"))
    lines = [f"{file_sha256(p)}  {p.relative_to(out_dir).as_posix()}" for p in files]
    (out_dir / "bagit.txt").write_text(
        "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n", encoding="utf-8")
    octets = sum(p.stat().st_size for p in files)
    (out_dir / "bag-info.txt").write_text(
        f"Bagging-Date: {datetime.now(timezone.utc):%Y-%m-%d}\n"
        f"Payload-Oxum: {octets}.{len(files)}\n"
        "Bag-Software-Agent: Matbaa\n", encoding="utf-8")
    (out_dir / "manifest-sha256.txt").write_text(
        "".join(f"{line}\n" for line in lines), encoding="utf-8")
    failures = out_dir / "failures.txt"
    if failed:
        failures.write_text("".join(f"{i}\t{reason}\n" for i, reason in failed),
                            encoding="utf-8")
    else:
        failures.unlink(missing_ok=True)
