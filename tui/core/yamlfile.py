"""Loading hand-written YAML (rules, replies, config) so that every mistake can name its line.

``yaml.safe_load`` forgets where things came from and silently keeps the last of two duplicate
keys.  Here the file is *composed* into nodes (``yaml.compose`` with ``SafeLoader``) and turned
into plain values ourselves: mappings become :class:`YMap` (a ``dict`` that also knows the line of
each key and the raw text of each scalar value) and sequences :class:`YList` (a ``list`` that knows
the line of each item).  Duplicate keys are reported with both lines.

:class:`Reader` collects :class:`Problem` s while a loader walks the values, so that a file with
five mistakes gets five messages in one go, each saying what to write instead.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a file, printed the way compilers do so editors can jump to it."""

    file: str
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class YMap(dict):
    """A YAML mapping: ``lines[key]`` is the line of a key, ``raw[key]`` its scalar text."""

    line: int
    lines: dict[Any, int]
    raw: dict[Any, str]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.lines = {}
        self.raw = {}

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class YList(list):
    """A sequence from a YAML file.  ``lines[i]`` is the line of item ``i``."""

    line: int
    lines: list[int]

    def __init__(self, line: int = 0) -> None:
        super().__init__()
        self.line = line
        self.lines = []

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


def _line(node: yaml.Node) -> int:
    return node.start_mark.line + 1


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []
        # The SafeLoader's constructor resolves scalars exactly as safe_load would (ints, bools,
        # dates, nulls); it is only ever handed scalar nodes.
        self._constructor = yaml.SafeLoader("")

    def build(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.MappingNode):
            out = YMap(_line(node))
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problems.append(Problem(
                        self.file, _line(key_node),
                        "a key must be a plain word, not a list or mapping"))
                    continue
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self.problems.append(Problem(
                        self.file, _line(key_node),
                        "merge keys ('<<') are not supported: write the keys out"))
                    continue
                key = self._constructor.construct_object(key_node, deep=True)
                if isinstance(key, (list, dict)):
                    key = str(key)
                if key in out:
                    self.problems.append(Problem(
                        self.file, _line(key_node),
                        f"duplicate key '{key}' (first written at line {out.lines[key]}): "
                        "YAML would silently keep only the last one; remove one of them"))
                    continue
                out[key] = self.build(value_node)
                out.lines[key] = _line(key_node)
                if isinstance(value_node, yaml.ScalarNode):
                    out.raw[key] = value_node.value
            return out
        if isinstance(node, yaml.SequenceNode):
            seq = YList(_line(node))
            for item in node.value:
                seq.append(self.build(item))
                seq.lines.append(_line(item))
            return seq
        try:
            return self._constructor.construct_object(node, deep=True)
        except (ValueError, yaml.constructor.ConstructorError):
            # e.g. a date like 2025-13-01: keep the text; the loader says what is wrong with it
            return node.value


# libyaml's composer (PyYAML's C binding) is about ten times faster than the pure-Python one and
# gives the same nodes and line marks; its error texts are terser, so a file that does not parse is
# parsed again by the pure-Python loader for the message ("found character '\\t'...").
_FAST_LOADER = getattr(yaml, "CSafeLoader", None)


def _compose(text: str) -> Any:
    if _FAST_LOADER is not None:
        try:
            return yaml.compose(text, Loader=_FAST_LOADER)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def load_yaml(path: Path | str, *, name: str | None = None) -> tuple[Any, list[Problem]]:
    """Parse ``path``; return ``(value, problems)``.  ``value`` is None when the file is unusable.

    ``name`` is how problems name the file (default: the path as given).
    """
    file = name or str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None, [Problem(file, 0, "file not found")]
    except (OSError, UnicodeDecodeError) as exc:
        return None, [Problem(file, 0, f"cannot read the file: {exc}")]
    return load_yaml_text(text, file)


def load_yaml_text(text: str, file: str) -> tuple[Any, list[Problem]]:
    try:
        node = _compose(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 0
        what = exc.problem or "unreadable YAML"
        hint = ""
        if exc.context:
            hint = f" ({exc.context}"
            if exc.context_mark and exc.context_mark.line + 1 != line:
                hint += f" at line {exc.context_mark.line + 1}"
            hint += ")"
        if "'\\t'" in what:
            hint += "; indent with spaces, not tabs"
        if "expected ',' or ']'" in what or "expected ',' or '}'" in what:
            hint += "; a comma is probably missing between two items"
        if "expected <block end>" in what or "mapping values are not allowed" in what:
            hint += ("; check the indentation: this line does not line up with the lines "
                     "above it (the keys of one mapping, the items of one list, start at the "
                     "same column)")
        return None, [Problem(file, line, f"YAML syntax error: {what}{hint}")]
    except yaml.YAMLError as exc:  # pragma: no cover - composer errors are all marked
        return None, [Problem(file, 0, f"YAML error: {exc}")]
    if node is None:
        return None, []
    builder = _Builder(file)
    try:
        value = builder.build(node)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        return None, [Problem(file, mark.line + 1 if mark else 0, f"YAML error: {exc.problem}")]
    return value, builder.problems


# --- helpers every loader needs ---------------------------------------------------------------

def did_you_mean(word: str, allowed: Iterable[str]) -> str:
    """``" — did you mean 'keywords'?"`` or ``""``."""
    close = difflib.get_close_matches(str(word), [str(a) for a in allowed], n=1, cutoff=0.6)
    return f" — did you mean '{close[0]}'?" if close else ""


def unknown_key_message(key: Any, allowed: Iterable[str], where: str) -> str:
    allowed = list(allowed)
    return (f"unknown key '{key}' in {where}{did_you_mean(key, allowed)} "
            f"(allowed: {', '.join(allowed)})")


_TYPE_NAMES = {
    str: "text",
    int: "a whole number",
    float: "a number",
    bool: "true or false",
    list: "a list (lines starting with '- ')",
    dict: "a mapping (indented 'key: value' lines)",
}


def type_name(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_TYPE_NAMES.get(k, k.__name__) for k in kinds)


def describe(value: Any) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, (int, float)):
        return f"the number {value}"
    return f"'{value}'"


def is_type(value: Any, kind: type | tuple[type, ...]) -> bool:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        return False  # YAML's yes/true must not pass for a number
    if isinstance(value, int) and float in kinds:
        return True
    return isinstance(value, kinds)


_SUGGESTION_THEN_ADVICE = re.compile(r"(did you mean '[^']*'\?): (\w)")


class Reader:
    """Collects problems for one file while a loader walks its values."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.problems: list[Problem] = []

    def problem(self, line: int, message: str) -> None:
        # "... — did you mean 'x'?: write one of ..." reads better as "...? Write one of ...".
        message = _SUGGESTION_THEN_ADVICE.sub(lambda m: f"{m.group(1)} {m.group(2).upper()}",
                                              message)
        self.problems.append(Problem(self.file, line, message))

    def mapping(self, value: Any, line: int, where: str, allowed: Iterable[str] | None = None,
                required: Iterable[str] = ()) -> YMap | None:
        """``value`` as a mapping (reporting unknown and missing keys) or None after a problem."""
        if not isinstance(value, YMap):
            self.problem(line, f"{where} must be {type_name(dict)}, not {describe(value)}")
            return None
        if allowed is not None:
            allowed = list(allowed)
            for key in value:
                if key not in allowed:
                    self.problem(value.line_of(key), unknown_key_message(key, allowed, where))
        for key in required:
            if key not in value:
                self.problem(value.line, f"{where} has no '{key}': add '{key}:'")
        return value

    def get(self, m: YMap, key: str, kind: type | tuple[type, ...], where: str,
            default: Any = None, *, required: bool = False) -> Any:
        """``m[key]`` checked against ``kind``; ``default`` when absent or after a problem."""
        if key not in m:
            if required:
                self.problem(m.line, f"{where} has no '{key}': add '{key}:' ({type_name(kind)})")
            return default
        value = m[key]
        if not is_type(value, kind):
            self.problem(m.line_of(key),
                         f"'{key}' in {where} must be {type_name(kind)}, not {describe(value)}")
            return default
        return value

    def string_list(self, m: YMap, key: str, where: str) -> tuple[list[str], list[int]]:
        """A list of strings (a single string is accepted as a one-item list), with their lines."""
        if key not in m:
            return [], []
        value = m[key]
        line = m.line_of(key)
        if isinstance(value, str):
            return [value], [line]
        if not isinstance(value, YList):
            self.problem(line, f"'{key}' in {where} must be a list of words, not {describe(value)}")
            return [], []
        items: list[str] = []
        lines: list[int] = []
        for i, item in enumerate(value):
            if isinstance(item, bool):
                self.problem(value.line_of(i),
                             f"item {i + 1} of '{key}' in {where} was read as true/false: YAML "
                             "reads yes/no/on/off that way, so put the word in quotes (\"no\")")
                continue
            if item is None or isinstance(item, (YMap, YList)):
                self.problem(value.line_of(i), f"item {i + 1} of '{key}' in {where} must be "
                                               f"text, not {describe(item)}")
                continue
            items.append(str(item))
            lines.append(value.line_of(i))
        return items, lines
