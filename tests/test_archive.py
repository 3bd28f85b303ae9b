"""`matbaa archive`: one PDF/A per article in a BagIt bag, verified, resumable."""

import hashlib

from service.article import parse_article
from service.cli import main

from .conftest import sample
from .test_archival import failures

IDS = ["arabic-printing-history", "kuwait-coalition-meeting", "nova-digital-archive-platform"]


def manifest(bag):
    lines = (bag / "manifest-sha256.txt").read_text(encoding="utf-8").splitlines()
    return {path: digest for digest, path in (line.split("  ", 1) for line in lines)}


def test_archive_writes_a_valid_bag_and_resumes(runner, loaded_store, tmp_path):
    bag = tmp_path / "bag"
    result = runner.invoke(main, ["archive", str(bag), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "3 written, 0 kept" in result.output
    assert (bag / "bagit.txt").read_text().startswith("BagIt-Version: 1.0")
    listed = manifest(bag)
    assert sorted(listed) == sorted(
        [f"data/{i}.pdf" for i in IDS] + [f"data/{i}.pdf.sha256" for i in IDS])
    for path, digest in listed.items():
        assert hashlib.sha256((bag / path).read_bytes()).hexdigest() == digest
    octets, count = (bag / "bag-info.txt").read_text().split("Payload-Oxum: ")[1].split()[0].split(".")
    assert int(count) == 6 and int(octets) == sum((bag / p).stat().st_size for p in listed)
    for article_id in IDS:
        pdf = (bag / "data" / f"{article_id}.pdf").read_bytes()
        assert failures(pdf) == []
        assert (bag / "data" / f"{article_id}.pdf.sha256").read_text().split()[0] == \
            hashlib.sha256(pdf).hexdigest()

    # Resume: one file lost, one damaged; only those two are made again.
    (bag / "data" / f"{IDS[0]}.pdf").unlink()
    damaged = bag / "data" / f"{IDS[1]}.pdf"
    damaged.write_bytes(damaged.read_bytes()[:-10])
    again = runner.invoke(main, ["archive", str(bag), "--workers", "1"])
    assert again.exit_code == 0, again.output
    assert "2 written, 1 kept" in again.output
    assert manifest(bag) == listed        # deterministic: the same bytes again


def test_article_that_fails_verification_is_listed_and_not_counted(
        runner, loaded_store, tmp_path):
    data = sample("kuwait-coalition-meeting")
    data.update(id="unprintable", body_html="<p>نص عربي مع حروف لا يغطيها أي خط: 漢字</p>",
                section="zz-test")
    loaded_store.upsert(parse_article(data))
    bag = tmp_path / "bag"
    result = runner.invoke(main, ["archive", str(bag), "--section", "zz-test"])
    assert result.exit_code == 1
    assert "unprintable" in (bag / "failures.txt").read_text()
    assert "U+6F22" in (bag / "failures.txt").read_text()
    assert not (bag / "data" / "unprintable.pdf").exists()
    assert manifest(bag) == {}


def test_archive_with_render_processes(runner, loaded_store, tmp_path):
    bag = tmp_path / "bag"
    result = runner.invoke(main, ["archive", str(bag), "--workers", "2"])
    assert result.exit_code == 0, result.output
    single = tmp_path / "single"
    assert runner.invoke(main, ["archive", str(single), "--workers", "1"]).exit_code == 0
    assert manifest(bag) == manifest(single)
