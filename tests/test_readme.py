"""What a cloned repository and its package metadata hold: README, docs, licence."""

import configparser
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _setup_cfg() -> configparser.ConfigParser:
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg", encoding="utf-8")
    return cfg


def test_licence_file_is_mit_as_the_metadata_says():
    cfg = _setup_cfg()
    assert cfg["metadata"]["license"] == "MIT"
    assert cfg["metadata"]["license_files"].strip() == "LICENSE"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n")
    assert "Copyright (c) 2026 the diffsim authors" in text
    assert 'THE SOFTWARE IS PROVIDED "AS IS"' in text


def test_package_long_description_has_no_relative_links():
    """A package index renders the long description without the repository's files."""
    cfg = _setup_cfg()
    source = cfg["metadata"]["long_description"].strip()
    assert source.startswith("file:")
    path = ROOT / source.removeprefix("file:").strip()
    assert path.name != "README.md"
    text = path.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)]+)\)", text) + re.findall(r"<img[^>]+src=\"([^\"]+)\"", text)
    relative = [t for t in targets if not re.match(r"https?://", t)]
    assert relative == []


def _table_row(folder: str) -> str:
    rows = [line for line in README.splitlines() if line.startswith(f"| `{folder}/`")]
    assert len(rows) == 1, f"README's architecture table has {len(rows)} rows for {folder}/"
    return rows[0]


@pytest.mark.parametrize("folder", ["diffsim", "envs", "controllers", "scripts"])
def test_architecture_table_lists_every_module(folder):
    listed = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", _table_row(folder).split("|")[2]))
    modules = {p.stem for p in (ROOT / folder).glob("*.py") if p.name != "__init__.py"}
    modules |= {p.parent.name for p in (ROOT / folder).glob("*/__init__.py")}  # subpackages
    assert sorted(modules - listed) == []
    assert sorted(listed - modules) == []


def _text_files():
    skip = {".git", "runs", "build", "dist", "__pycache__", "out"}
    for path in ROOT.rglob("*"):
        parts = set(path.relative_to(ROOT).parts)
        if parts & skip or any(p.endswith(".egg-info") for p in parts):
            continue
        if path.is_file() and path.suffix in {".py", ".md", ".cfg", ".toml", ".txt", ""}:
            yield path


def test_nothing_cites_the_teams_private_folder():
    """A clone lacks the team's private folder: code and docs cite the repository's own docs."""
    private = "shared" + "/"  # spelled so that this file does not cite it
    hits = []
    for path in _text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        hits += [
            f"{path.relative_to(ROOT)}:{n}"
            for n, line in enumerate(text.splitlines(), 1)
            if private in line
        ]
    assert hits == []


def test_relative_links_in_readme_and_docs_resolve():
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = page.read_text(encoding="utf-8")
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+://", target) or target.startswith(("#", "mailto:")):
                continue
            if not (page.parent / target.split("#")[0]).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []


BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_snippets_that_print_say_what_they_print(index):
    block = BLOCKS[index]
    if "print(" not in block:
        pytest.skip("this block prints nothing")
    assert block.count("# prints:") == block.count("print(")


NUMBER = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"


@pytest.mark.parametrize(
    "index",
    [i for i, b in enumerate(BLOCKS) if "controllers" not in b and "stable_baselines3" not in b],
)
def test_readme_physics_snippets_print_what_they_say(index, tmp_path, monkeypatch, capsys):
    """The physics snippets are deterministic: their output is the documented one."""
    block = BLOCKS[index]
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"README.md python block {index}", "exec"), {})
    printed = capsys.readouterr().out
    documented = " ".join(re.findall(r"# prints: (.*)", block))
    expected = [float(x) for x in re.findall(NUMBER, documented)]
    got = [float(x) for x in re.findall(NUMBER, printed)]
    assert got == pytest.approx(expected, rel=1e-4, abs=1e-4)
