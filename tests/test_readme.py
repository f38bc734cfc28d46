"""What a cloned repository and its package metadata hold: README, docs, licence."""

import configparser
import re
from pathlib import Path

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
