"""README's Architecture section against the tree: the module map names every module and package of
fraud_assets/ and nothing else, and every module the section names exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "fraud_assets"


def architecture_section() -> str:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("\n## Architecture\n") :]
    return section[: section.index("\n## ", 1)]


def module_map() -> list[str]:
    """The first word of each line of the code block under "### Module map"."""
    part = architecture_section()
    part = part[part.index("\n### Module map\n") :]
    block = part[part.index("```\n") + 4 :]
    block = block[: block.index("```")]
    return [line.split()[0] for line in block.splitlines() if line.strip()]


def top_level_entries() -> set[str]:
    modules = {path.name for path in PACKAGE.glob("*.py")}
    packages = {path.parent.name + "/" for path in PACKAGE.glob("*/__init__.py")}
    return modules | packages


def test_the_module_map_names_every_module_and_package_once():
    named = module_map()
    assert len(named) == len(set(named)), "a module is named twice"
    assert sorted(top_level_entries() - set(named)) == [], "in fraud_assets/ but missing from README's module map"
    assert sorted(set(named) - top_level_entries()) == [], "in README's module map but not in fraud_assets/"


def test_every_module_the_section_names_exists():
    named = set(re.findall(r"`((?:[a-z_]+/)*[a-z_]+\.py|[a-z_]+/)`", architecture_section()))
    assert len(named) > 20, "the path of a landed file names the module at each stage"
    missing = sorted(name for name in named if not ((PACKAGE / name).exists() or (ROOT / name).exists()))
    assert not missing, f"README's Architecture section names modules that do not exist: {missing}"


def test_the_glossary_defines_the_four_words():
    section = architecture_section()
    for word in ("day", "landed file", "slice", "partition key"):
        assert f"- **{word}**:" in section
