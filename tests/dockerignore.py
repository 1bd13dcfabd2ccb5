"""Docker's ``.dockerignore`` rules, ported line by line from moby/patternmatcher (``ignorefile.
ReadAll``, ``New``, ``Pattern.compile``/``match`` and ``MatchesOrParentMatches``, which the
builder uses), so a test can list what a build context sends.

Unlike ``.gitignore``, a pattern is anchored at the context's root (``*.key`` does not reach
``certs/server.key``; ``**/*.key`` does), a path is left out when it or any parent directory
matches, and the last matching line wins (``!`` takes a path back in).

>>> context(["a.key", "certs/server.key", "src/x.py"], ["*.key"])
['certs/server.key', 'src/x.py']
>>> context(["a.key", "certs/server.key", "src/x.py"], ["**/*.key"])
['src/x.py']
>>> context(["docs/a/b.md", "docs/keep.md", "x"], ["docs", "!docs/keep.md"])
['docs/keep.md', 'x']
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

_ESCAPE = set(".+()|{}$")


def read_ignore_file(text: str) -> list[str]:
    """``ignorefile.ReadAll``: comments, blank lines, and leading ``/`` go; paths are cleaned.

    >>> text = "test1\\n/test2\\n/a/file/here\\n\\nlastfile\\n# comment\\n! /inverted/abs/path\\n!\\n! "
    >>> read_ignore_file(text)
    ['test1', 'test2', 'a/file/here', 'lastfile', '!inverted/abs/path', '!', '!']
    """
    patterns = []
    for number, line in enumerate(text.splitlines()):
        if number == 0:
            line = line.removeprefix("\ufeff")
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        invert = pattern[0] == "!"
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = _clean(pattern)
            if len(pattern) > 1 and pattern[0] == "/":
                pattern = pattern[1:]
        patterns.append("!" + pattern if invert else pattern)
    return patterns


def _clean(path: str) -> str:
    """Go's ``filepath.Clean`` on a slash-separated path."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


@dataclass(frozen=True)
class _Pattern:
    cleaned: str
    exclusion: bool
    kind: str  # exact | prefix | suffix | regexp
    regexp: re.Pattern[str] | None

    def match(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.cleaned
        if self.kind == "prefix":
            return path.startswith(self.cleaned[:-2])
        if self.kind == "suffix":
            suffix = self.cleaned[2:]
            return path.endswith(suffix) or (suffix[0] == "/" and path == suffix[1:])
        assert self.regexp is not None
        return self.regexp.fullmatch(path) is not None


def _compile(cleaned: str, exclusion: bool) -> _Pattern:
    """``Pattern.compile`` with ``/`` as the separator."""
    regex, kind, i, n = "", "exact", 0, len(cleaned)
    position = 0
    while i < n:
        ch = cleaned[i]
        i += 1
        if ch == "*":
            if i < n and cleaned[i] == "*":
                i += 1
                if i < n and cleaned[i] == "/":
                    i += 1
                if i >= n:  # "**" at the end: everything below
                    if kind == "exact":
                        kind = "prefix"
                    else:
                        regex += ".*"
                        kind = "regexp"
                else:
                    regex += "(.*/)?"
                    kind = "regexp"
                if position == 0:
                    kind = "suffix"
            else:
                regex += "[^/]*"
                kind = "regexp"
        elif ch == "?":
            regex += "[^/]"
            kind = "regexp"
        elif ch in _ESCAPE:
            regex += "\\" + ch
        elif ch == "\\":
            if i < n:
                regex += "\\" + cleaned[i]
                i += 1
                kind = "regexp"
            else:
                regex += "\\\\"
        elif ch in "[]":
            regex += ch
            kind = "regexp"
        else:
            regex += ch
        position += 1
    return _Pattern(cleaned, exclusion, kind, re.compile(regex) if kind == "regexp" else None)


def matcher(patterns: Iterable[str]) -> list[_Pattern]:
    """``patternmatcher.New``."""
    compiled = []
    for raw in patterns:
        pattern = raw.strip()
        if not pattern:
            continue
        pattern = _clean(pattern)
        exclusion = pattern[0] == "!"
        if exclusion:
            if len(pattern) == 1:
                raise ValueError('illegal exclusion pattern: "!"')
            pattern = pattern[1:]
        compiled.append(_compile(pattern, exclusion))
    return compiled


def excluded(path: str, patterns: list[_Pattern]) -> bool:
    """``MatchesOrParentMatches``: the path, or one of its parent directories, matches the last
    deciding pattern."""
    path = _clean(path)
    if path == ".":
        return False
    parent = posixpath.dirname(path) or "."
    parents = parent.split("/")
    matched = False
    for pattern in patterns:
        if pattern.exclusion != matched:
            continue
        match = pattern.match(path)
        if not match and parent != ".":
            match = any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
        if match:
            matched = not pattern.exclusion
    return matched


def context(paths: Iterable[str], patterns: Iterable[str]) -> list[str]:
    """The paths a build context sends, sorted."""
    compiled = matcher(patterns)
    return sorted(p for p in paths if not excluded(p, compiled))


def tree(root: Path) -> list[str]:
    """Every file below ``root`` (symbolic links as files), slash-separated and relative."""
    found = []
    for folder, _dirs, files in os.walk(root):
        for name in files:
            found.append(Path(folder, name).relative_to(root).as_posix())
    return found
