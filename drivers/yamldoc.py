"""YAML documents validated by pydantic, with errors a facility manager can act on.

A site file or a device profile is parsed with ruamel.yaml (which keeps line and column
of every key and item), validated by a pydantic model, and every problem is reported at
once as ``file:line:column: key.path: problem (got VALUE; expected ...)``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class Problem:
    """One thing wrong in one file, located as precisely as the YAML allows."""

    file: Path
    line: int  # 1-based; 0 when the file itself is the problem
    column: int  # 1-based
    key_path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}" if self.line else f"{self.file}"
        key = f" {self.key_path}:" if self.key_path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(Exception):
    """A file (or files) failed validation; ``problems`` lists every one found."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class YamlDocument:
    """A parsed YAML file that can say where any key path sits in it."""

    def __init__(self, path: Path, data: Any) -> None:
        self.path = path
        self.data = data

    @classmethod
    def load(cls, path: Path) -> YamlDocument:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError([Problem(path, 0, 0, "", "file not found")]) from None
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError([Problem(path, 0, 0, "", f"cannot read file: {err}")]) from err
        try:
            data = YAML(typ="rt").load(text)
        except MarkedYAMLError as err:
            mark = err.problem_mark or err.context_mark
            line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
            reason = err.problem or err.context or "invalid YAML"
            raise ConfigError(
                [Problem(path, line, column, "", f"YAML syntax error: {reason}")]
            ) from err
        return cls(path, data)

    def position(self, loc: Loc) -> tuple[int, int]:
        """1-based line and column of the deepest node of ``loc`` present in the file."""
        node, line, column = self.data, 1, 1
        for part in loc:
            if isinstance(node, CommentedMap) and part in node:
                line, column = node.lc.key(part)
                line, column = line + 1, column + 1
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and part < len(node):
                line, column = node.lc.item(part)
                line, column = line + 1, column + 1
                node = node[part]
            else:
                break
        return line, column

    def value_at(self, loc: Loc) -> Any:
        node = self.data
        for part in loc:
            try:
                node = node[part]
            except (KeyError, IndexError, TypeError):
                return None
        return node

    def problem(self, loc: Loc, message: str) -> Problem:
        line, column = self.position(loc)
        return Problem(self.path, line, column, format_loc(loc), message)


def format_loc(loc: Iterable[str | int]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _plain(data: Any) -> Any:
    """ruamel containers → plain dicts/lists (pydantic validates those)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def _model_at(model: type[BaseModel], loc: Sequence[Any]) -> type[BaseModel] | None:
    """The pydantic model owning the mapping at pydantic's ``loc`` (tags included)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            current = _members(current)[0] if len(_members(current)) == 1 else current
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            tagged = [m for m in _members(current) if _tag_of(m) == part]
            current = tagged[0] if tagged else None
            continue
        field = current.model_fields.get(part)
        if field is None:
            return None
        members = _members(field.annotation)
        current = members[0] if len(members) == 1 else field.annotation
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _members(annotation: Any) -> list[type[BaseModel]]:
    """Every pydantic model inside an annotation (list[X], X | None, Annotated[...])."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in get_args(annotation):
        found.extend(_members(arg))
    return found


def _tag_of(member: type[BaseModel]) -> Any:
    """The discriminator value of a union member: its ``kind`` (or ``protocol``) literal."""
    for name in ("kind", "protocol"):
        field = member.model_fields.get(name)
        if field is not None:
            literal = get_args(field.annotation)
            return literal[0] if literal else field.default
    return None


def _describe(value: Any) -> str:
    text = repr(_plain(value))
    return text if len(text) <= 60 else text[:57] + "..."


def _yaml_loc(doc: YamlDocument, loc: Sequence[Any]) -> Loc:
    """Drop the union tags pydantic adds to a location (they are not keys in the file).

    A string part is a tag when the node it would index is a mapping that lacks it and
    more parts follow (a missing or unknown key is always the last part).
    """
    kept: list[str | int] = []
    node = doc.data
    for index, part in enumerate(loc):
        last = index == len(loc) - 1
        if isinstance(node, dict) and isinstance(part, str) and part not in node and not last:
            continue
        kept.append(part)
        try:
            node = node[part]
        except (KeyError, IndexError, TypeError):
            node = None
    return tuple(kept)


_KEY_PATH = re.compile(r"\b([a-z_][a-z0-9_]*(?:\.[A-Za-z0-9_]+)+)\b")


def _refine(doc: YamlDocument, loc: Loc, message: str) -> Loc:
    """A section-level check may name the exact key (``islanding.enter_service_delay_s``)."""
    for match in _KEY_PATH.finditer(message):
        parts = tuple(match.group(1).split("."))
        if parts[: len(loc)] == loc and len(parts) > len(loc) and doc.value_at(parts) is not None:
            return parts
    return loc


def validation_problems(
    doc: YamlDocument, model: type[BaseModel], err: ValidationError
) -> list[Problem]:
    problems = []
    for item in err.errors(include_url=False):
        loc = _refine(doc, _yaml_loc(doc, item["loc"]), str(item["msg"]))
        value = doc.value_at(loc)
        if item["type"] == "extra_forbidden":
            key = str(loc[-1])
            owner = _model_at(model, item["loc"][:-1])
            hint = ""
            if owner is not None:
                close = difflib.get_close_matches(key, list(owner.model_fields), n=1)
                hint = f"; did you mean '{close[0]}'?" if close else ""
                hint += f" (valid keys: {', '.join(owner.model_fields)})"
            problems.append(doc.problem(loc, f"unknown key '{key}'{hint}"))
        elif item["type"] == "missing":
            problems.append(doc.problem(loc, "required key is missing"))
        else:
            got = _describe(value) if value is not None else "nothing"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(doc.problem(loc, f"{message} (got {got})"))
    return problems


def validate(doc: YamlDocument, model: type[ModelT]) -> ModelT:
    """Validate the whole document; raise ConfigError listing every problem."""
    if doc.data is None:
        raise ConfigError([Problem(doc.path, 1, 1, "", "file is empty")])
    try:
        return model.model_validate(_plain(doc.data))
    except ValidationError as err:
        raise ConfigError(validation_problems(doc, model, err)) from err
