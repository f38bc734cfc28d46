"""The generated blocks of docs/aiming.md, trebuchet.md, envs.md and pendulum_research.md."""

import json

import pytest

from diffsim.scripts import report_docs

ROOT = report_docs.ROOT


@pytest.mark.parametrize(("doc", "name"), report_docs.BLOCKS)
def test_committed_block_is_generated_from_the_committed_result(doc, name):
    committed = report_docs.committed_block((ROOT / doc).read_text(), name)
    assert committed == report_docs.generate(doc, name=name), (
        f"{doc} ({name}) is stale: run python -m diffsim.scripts.report_docs"
    )


def test_pendulum_research_blocks_cover_every_result_file():
    results = report_docs.load_pendulum_research()
    runs = report_docs.render_pendulum_runs(results) + report_docs.render_pendulum_2019(results)
    assert set(results) == set(report_docs.PENDULUM_RUNS) | set(report_docs.PENDULUM_2019_RUNS)
    for name in results:
        assert f"| `{name}` |" in runs
    extra = {**results, "new_run": results["final"]}
    with pytest.raises(ValueError, match="new_run"):
        report_docs.render_pendulum_runs(extra)


def test_named_blocks_are_found_by_name():
    text = (
        f"{report_docs.begin('a')}\nA\n{report_docs.END}\n"
        f"{report_docs.begin('b')}\nB\n{report_docs.END}\n"
    )
    assert report_docs.committed_block(text, "b") == "B"
    new = report_docs.replace_block(text, "A2", "a")
    assert report_docs.committed_block(new, "a") == "A2"
    assert report_docs.committed_block(new, "b") == "B"
    with pytest.raises(ValueError, match="expected one"):
        report_docs.committed_block(text, "c")


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
