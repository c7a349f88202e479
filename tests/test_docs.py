"""The user docs (README.md and docs/**/*.md): every relative link resolves to a file or folder
of the repository (and a ``#anchor`` to a heading of the page it names), every config key they
name as ``group.key=`` or `` `group.key` `` exists in its schema, and the README stays short,
keeps its Quickstart and holds no dated measurement. HTML comments (the ``TODO(#n)`` notes) are
not read."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from llmts.config.bench import BenchConfig
from llmts.config.pretrain import CorpusConfig
from llmts.config.schema import GROUPS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").rglob("*.md"))]
# the groups of llmts, llmts-pretrain's corpus and llmts-bench's bench, by the prefix docs use
SCHEMAS = {**GROUPS, "corpus": CorpusConfig, "bench": BenchConfig}
# `model.safetensors`, `data.json`: files that look like keys
FILE_SUFFIXES = {"json", "safetensors", "csv", "h5", "png", "yaml", "py", "md", "txt", "log", "pt"}

COMMENT = re.compile(r"<!--.*?-->", re.S)
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
_GROUP = "|".join(map(re.escape, SCHEMAS))
KEY = re.compile(
    rf"(?<![\w./$-])({_GROUP})\.([A-Za-z_]\w*)(?:\.\w+)*=|`({_GROUP})\.([A-Za-z_]\w*)(?:\.\w+)*`"
)


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", COMMENT.sub("", page.read_text(encoding="utf-8")))
    return {slug(h) for h in HEADING.findall(text)}


def link_problems(text: str, page: Path) -> list[str]:
    """Each relative link of ``text`` (the page ``page``) whose target or anchor is missing."""
    prose = CODE.sub("", FENCE.sub("", COMMENT.sub("", text)))
    problems = []
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            problems.append(f"{page.name}: {target}: no such file")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{page.name}: {target}: no heading #{anchor} in {dest.name}")
    return problems


def key_problems(text: str) -> list[str]:
    """Each ``group.key`` that ``text`` names and its group's schema does not have."""
    problems = []
    for match in KEY.finditer(COMMENT.sub("", text)):
        group, key = match.group(1) or match.group(3), match.group(2) or match.group(4)
        if key in FILE_SUFFIXES:
            continue
        if key not in {f.name for f in fields(SCHEMAS[group])}:
            problems.append(f"{group}.{key}")
    return problems


def test_the_docs_exist():
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert {"README.md", "docs/dev-log.md", "docs/results/demo.md"} <= names
    assert len(PAGES) > 10


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(page):
    assert link_problems(page.read_text(encoding="utf-8"), page) == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_config_key_named_exists(page):
    assert key_problems(page.read_text(encoding="utf-8")) == []


def test_a_broken_link_or_anchor_is_found():
    page = ROOT / "docs" / "getting-started.md"
    text = (
        "[ok](data.md) [ok](data.md#gaps) [ok](#the-demo) [web](https://example.org/x.md) "
        "[gone](no-such-page.md) [moved](data.md#no-such-heading) [here](#nowhere)\n"
        "<!-- [ignored](also-missing.md) -->"
    )
    assert link_problems(text, page) == [
        "getting-started.md: no-such-page.md: no such file",
        "getting-started.md: data.md#no-such-heading: no heading #no-such-heading in data.md",
        "getting-started.md: #nowhere: no heading #nowhere in getting-started.md",
    ]


def test_a_misspelt_key_is_found():
    text = (
        "llmts optimizer.lrr=1e-3 data.scale=affine `lora.rank` `train.max_steps` "
        "corpus.families.periodic=0.5 `bench.sectionz` `model.safetensors` llmts.train.loop "
        "<!-- TODO: eval.not_yet=1 -->"
    )
    assert key_problems(text) == ["optimizer.lrr", "lora.rank", "bench.sectionz"]


def test_the_readme_is_short_keeps_its_quickstart_and_holds_no_dates():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 200
    quickstart = text.split("## Quickstart", 1)[1]
    assert 'pip install -e ".[dev]" && llmts experiment=demo' in quickstart
    assert 'pip install -e ".[dev]" && python -m pytest' in quickstart
    assert re.findall(r"\b20\d\d-\d\d-\d\d\b", text) == []
