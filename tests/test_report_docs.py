"""The generated blocks of docs/aiming.md, trebuchet.md and envs.md (scripts/report_docs.py)."""

import json

import pytest

from diffsim.scripts import report_docs

ROOT = report_docs.ROOT


@pytest.mark.parametrize("doc", sorted(report_docs.DOCS))
def test_committed_block_is_generated_from_the_committed_result(doc):
    committed = report_docs.committed_block((ROOT / doc).read_text())
    assert committed == report_docs.generate(doc), (
        f"{doc} is stale: run python -m diffsim.scripts.report_docs"
    )


def test_replace_block_keeps_the_prose_and_needs_one_block():
    text = f"before\n{report_docs.BEGIN}\nold\n{report_docs.END}\nafter\n"
    new = report_docs.replace_block(text, "new")
    assert new == f"before\n{report_docs.BEGIN}\nnew\n{report_docs.END}\nafter\n"
    assert report_docs.committed_block(new) == "new"
    with pytest.raises(ValueError, match="expected one"):
        report_docs.committed_block("no markers")


def test_check_reports_nothing_stale_for_the_committed_docs(capsys):
    assert report_docs.main(["--check"]) == 0
    assert "all blocks up to date" in capsys.readouterr().out


def test_bench_trebuchet_writes_a_result_the_report_renders(tmp_path):
    from diffsim.scripts import bench_trebuchet as bench

    out = tmp_path / "trebuchet.json"
    bench.main(["--batches", "2", "--repeats", "1", "--aim-batch", "2", "--aim-steps", "2",
                "--precision-shots", "2", "--out", str(out)])  # fmt: skip
    block = report_docs.render_trebuchet(json.loads(out.read_text()))
    assert "| shoot(−2, 45, 200) | 74.728 m |" in block
    assert "time per shot, batch 2 " in block and "/2 reached to 0.1 m" in block
