"""The documentation stays inside the repository and true to the code.

- No README or doc points outside the repository (the design notes the project started from,
  checks kept elsewhere): every such reference is a link into ``docs/ARCHITECTURE.md`` instead.
- Every relative Markdown link resolves: the file exists and, for ``file.md#anchor``, the file
  has a heading with that anchor (GitHub's rule: lower case, punctuation dropped, spaces to
  hyphens).
- The README's configuration reference lists exactly the settings of ``forestall/settings.py``
  with their environment variables and defaults. ``python -m tests.test_docs`` prints the rows
  the code implies, to paste when a setting is added (then write its meaning).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from forestall.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = {
    ".venv",
    ".git",
    "node_modules",
    "test-output",
    "forestall.egg-info",
    ".mypy_cache",
    ".ruff_cache",
}
OUTSIDE = re.compile(r"\.\./shared|(?<![\w-])shared/|ARCHITECTURE\s*§|§\s*\d")  # § n: the old design notes
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
TABLE_START, TABLE_END = "<!-- settings-table -->", "<!-- /settings-table -->"


def markdown_files() -> list[Path]:
    found = []
    for path in sorted(ROOT.rglob("*.md")):
        parts = set(path.relative_to(ROOT).parts[:-1])
        if not parts & SKIPPED_DIRS and not any(p.startswith(".") for p in parts):
            found.append(path)
    return found


def prose_lines(text: str) -> Iterator[tuple[int, str]]:
    """Lines outside fenced code blocks, with inline code spans blanked."""
    fenced = False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, re.sub(r"`[^`]*`", "``", line)


def slug(heading: str) -> str:
    text = re.sub(r"`|\*\*|\*|_(?=\W)|(?<=\W)_", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)  # a link in a heading counts by its text
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """The anchors of ``path``'s headings (outside code blocks; a repeated one gets -1, -2, …)."""
    seen: dict[str, int] = {}
    fenced = False
    for line in path.read_text().splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = None if fenced else re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if match:
            base = slug(match.group(1))
            count = seen.get(base, 0)
            seen[base] = count + 1
    return {base if n == 0 else f"{base}-{n}" for base, total in seen.items() for n in range(total)}


def test_no_doc_points_outside_the_repository() -> None:
    offenders = []
    for path in markdown_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if OUTSIDE.search(line):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "references outside the repository:\n" + "\n".join(offenders)


def test_every_relative_link_resolves() -> None:
    files = markdown_files()
    assert ROOT / "README.md" in files and ROOT / "docs" / "ARCHITECTURE.md" in files
    broken = []
    for path in files:
        for number, line in prose_lines(path.read_text()):
            for target in LINK.findall(line):
                if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
                    continue
                file_part, _, anchor = target.partition("#")
                resolved = (path.parent / file_part).resolve() if file_part else path
                where = f"{path.relative_to(ROOT)}:{number}: {target}"
                if not resolved.exists():
                    broken.append(f"{where} (no such file)")
                elif anchor and resolved.suffix == ".md" and anchor not in anchors(resolved):
                    broken.append(f"{where} (no heading with that anchor)")
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_the_link_checker_catches_what_it_should(tmp_path: Path) -> None:
    doc = tmp_path / "a.md"
    doc.write_text("# Run\n## The `fleet` replay (C-MAPSS)\n```\n# not a heading\n```\n# Run\n")
    assert anchors(doc) == {"run", "run-1", "the-fleet-replay-c-mapss"}
    assert not OUTSIDE.search("see [the design](docs/ARCHITECTURE.md#http-api)")
    assert all(
        OUTSIDE.search(text)
        for text in ("ARCHITECTURE §4", "../shared/data", "in shared/checks", "the API (§4)")
    )


def default_of(field: Any) -> Any:
    return field.default_factory() if field.default_factory is not None else field.default


def render(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, Path):
        value = str(value)
    if isinstance(value, list):
        return "`" + json.dumps([str(v) for v in value]) + "`"
    return "`" + json.dumps(value) + "`"


def settings_rows(
    model: type[BaseModel] = Settings, prefix: tuple[str, ...] = ()
) -> list[tuple[str, str, str]]:
    """(key, environment variable, default) of every leaf setting, in declaration order."""
    rows = []
    for name, field in model.model_fields.items():
        keys = (*prefix, name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            rows.extend(settings_rows(annotation, keys))
            continue
        env = "FORESTALL_" + "__".join(keys).upper()
        rows.append((".".join(keys), env, render(default_of(field))))
    return rows


def readme_table() -> list[tuple[str, str, str]]:
    text = (ROOT / "README.md").read_text()
    assert TABLE_START in text and TABLE_END in text, "the README lost its settings table markers"
    table = text.split(TABLE_START, 1)[1].split(TABLE_END, 1)[0]
    rows = []
    for line in table.strip().splitlines()[2:]:  # after the header and its rule
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        assert len(cells) == 4, f"a settings row needs 4 cells: {line}"
        key, env, default, meaning = cells
        assert meaning, f"{key}: say what it means"
        rows.append((key.strip("`"), env.strip("`"), default))
    return rows


def test_the_readme_lists_every_setting_with_its_variable_and_default() -> None:
    expected = settings_rows()
    assert readme_table() == expected, (
        "the README's configuration reference differs from forestall/settings.py; "
        "`python -m tests.test_docs` prints the rows the code implies:\n"
        + "\n".join(f"| `{k}` | `{e}` | {d} |" for k, e, d in expected)
    )


if __name__ == "__main__":
    sys.stdout.write("| setting | environment variable | default | meaning |\n|---|---|---|---|\n")
    for key, env, default in settings_rows():
        sys.stdout.write(f"| `{key}` | `{env}` | {default} | … |\n")


def test_the_settings_example_loads(tmp_path: Path) -> None:
    """The example file in the README (a block starting ``# forestall.toml``) is valid."""
    text = (ROOT / "README.md").read_text()
    examples = re.findall(r"```toml\n(# forestall\.toml.*?)```", text, re.S)
    assert examples, "the README lost its settings example"
    for example in examples:
        config = tmp_path / "forestall.toml"
        config.write_text(example)
        settings = load_settings(config)
        assert settings.store.kind == "influxdb" and settings.worker.metrics_port == 9100
