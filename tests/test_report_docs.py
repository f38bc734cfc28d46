"""The generated blocks of docs/aiming.md, trebuchet.md, envs.md and pendulum_research.md.

The checkout is this file's (tests/..): the tools are given it as an argument, since the
installed package may live elsewhere (a regular install).
"""

import json
import shutil
from pathlib import Path

import pytest

from diffsim.scripts import readme_figures, report_docs

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("doc", "name"), report_docs.BLOCKS)
def test_committed_block_is_generated_from_the_committed_result(doc, name):
    committed = report_docs.committed_block((ROOT / doc).read_text(), name)
    assert committed == report_docs.generate(doc, ROOT, name=name), (
        f"{doc} ({name}) is stale: run python -m diffsim.scripts.report_docs"
    )


def test_pendulum_research_blocks_cover_every_result_file():
    results = report_docs.load_pendulum_research(ROOT)
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
    assert report_docs.main(["--check", "--root", str(ROOT)]) == 0
    assert "all blocks up to date" in capsys.readouterr().out


def _docs_copy(tmp_path: Path) -> Path:
    """A checkout of ``docs/`` only (the files report_docs reads and writes), in tmp_path."""
    shutil.copytree(ROOT / "docs", tmp_path / "docs", ignore=shutil.ignore_patterns("figures"))
    return tmp_path


def test_root_rewrites_the_stale_blocks_of_that_checkout(tmp_path, capsys):
    root = _docs_copy(tmp_path)
    doc = root / "docs" / "aiming.md"
    committed = doc.read_text()
    doc.write_text(report_docs.replace_block(committed, "stale text"))
    assert report_docs.main(["--check", "--root", str(root)]) == 1
    assert "stale: docs/aiming.md" in capsys.readouterr().out
    assert report_docs.main(["--root", str(root)]) == 0
    assert "rewritten: docs/aiming.md" in capsys.readouterr().out
    assert doc.read_text() == committed
    assert (ROOT / "docs" / "aiming.md").read_text() == committed  # the checkout is untouched


def test_the_checkout_defaults_to_the_current_directory(tmp_path, monkeypatch, capsys):
    root = _docs_copy(tmp_path)
    doc = root / "docs" / "trebuchet.md"
    doc.write_text(report_docs.replace_block(doc.read_text(), "stale text"))
    monkeypatch.chdir(root)
    assert report_docs.main(["--check"]) == 1
    assert capsys.readouterr().out == "stale: docs/trebuchet.md\n"


def test_a_folder_that_is_not_a_checkout_is_a_clear_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        report_docs.main(["--check", "--root", str(tmp_path)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"{tmp_path.resolve()} is not a diffsim repository checkout" in err
    assert "docs/aiming.md" in err and "--root" in err
    with pytest.raises(FileNotFoundError, match="not a diffsim repository checkout"):
        report_docs.generate("docs/aiming.md", tmp_path)
    with pytest.raises(FileNotFoundError, match="not a diffsim repository checkout"):
        report_docs.load_pendulum_research(tmp_path)


def test_the_package_relative_defaults_are_deprecated():
    with pytest.warns(DeprecationWarning, match="pass root="):
        try:
            report_docs.generate("docs/aiming.md")
        except FileNotFoundError:  # a regular install: the package's parent is site-packages
            pass
    with pytest.warns(DeprecationWarning, match="report_docs.ROOT is deprecated"):
        assert report_docs.ROOT == report_docs._PACKAGE_PARENT
    with pytest.warns(DeprecationWarning, match="readme_figures.ROOT is deprecated"):
        assert readme_figures.ROOT == report_docs._PACKAGE_PARENT


def test_readme_figures_checks_its_paths_before_drawing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        readme_figures.main(["--root", str(tmp_path)])
    assert exit_.value.code == 2
    assert "is not a diffsim repository checkout" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        readme_figures.main(["--out", str(tmp_path / "figs"), "--results", str(tmp_path)])
    err = capsys.readouterr().err
    assert str(tmp_path / "cartpole" / "results.json") in err
    assert not (tmp_path / "figs").exists()  # nothing drawn or created


def test_bench_trebuchet_writes_a_result_the_report_renders(tmp_path):
    from diffsim.scripts import bench_trebuchet as bench

    out = tmp_path / "trebuchet.json"
    bench.main(["--batches", "2", "--repeats", "1", "--aim-batch", "2",
                "--precision-shots", "2", "--out", str(out)])  # fmt: skip
    block = report_docs.render_trebuchet(json.loads(out.read_text()))
    assert "| shoot(−2, 45, 200) | 74.728 m |" in block
    assert "time per shot, batch 2 " in block and "/2 hit (the others out of reach)" in block
