"""Load specs from YAML, apply `--set` overrides, and turn validation errors into
one-line messages of the form `dotted.path: message (got X) [file line N]`."""

from __future__ import annotations

import difflib
import re
import sys
import types
import typing
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from marlspec.spec.experiment import ExperimentSpec


class SpecError(ValueError):
    """A spec that cannot be used. `str(err)` is a single line meant for the user: line
    breaks inside it (from a key, a value or a file name) are written as escapes."""

    def __init__(self, message: str):
        super().__init__(one_line(message))


_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """`text` with every character that `str.splitlines` breaks on written as an escape."""
    return text.translate(_BREAKS)


Loc = tuple[str | int, ...]
OVERRIDE_LINE = -1
"""Line-map marker for keys set on the command line."""


# --------------------------------------------------------------------------- YAML


MAX_NODES = 100_000
"""Most values a spec may hold once its aliases are expanded (a spec needs a few hundred; a
custom payoff tensor a few thousand). Each `*alias` repeats its anchor, so a small file of
nested aliases can stand for billions of values; such a file is refused before it is read."""
MAX_DEPTH = 64
"""Deepest nesting of sections and lists a spec may have."""


class _YAMLProblem(Exception):
    """A YAML document that parses but cannot be a spec (duplicate or non-text keys, too big)."""

    def __init__(self, message: str, mark: Any = None):
        super().__init__(message)
        self.message, self.mark = message, mark


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing what it would accept silently: a key given twice (the
    last one would win), and keys that YAML reads as something other than text (`on:` and
    `yes:` are booleans in YAML 1.1, `3:` a number)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base` (merged keys may be overridden)
                continue
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise _YAMLProblem(f"key {_short(key_node.value)} is read as {type(key).__name__}, not as a name;"
                                   " quote it, e.g. 'on':", key_node.start_mark)
            if key in seen:
                raise _YAMLProblem(f"duplicate key '{key}' (first given on line {seen[key]}); keep one of them",
                                   key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


# YAML 1.2 reads 1e-3 and 3E+6 as numbers; PyYAML (YAML 1.1) reads them as text, which
# strict validation would then refuse. Floats without a dot or exponent sign are added here.
_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."),
)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _check_size(root: yaml.Node) -> None:
    """Refuse recursive aliases, and documents that expand to more than MAX_NODES values or
    nest deeper than MAX_DEPTH, by counting the composed graph once per node."""
    memo: dict[int, tuple[int, int]] = {}
    open_nodes: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:  # (expanded size, height)
        key = id(node)
        if key in memo:
            return memo[key]
        if key in open_nodes:
            raise _YAMLProblem("an alias refers to the section that contains it (a recursive alias)", node.start_mark)
        open_nodes.add(key)
        size, height = 1, 0
        for child in _children(node):
            s, h = measure(child)
            size, height = size + s, max(height, h + 1)
            if height > MAX_DEPTH:
                raise _YAMLProblem(f"nested more than {MAX_DEPTH} levels deep", node.start_mark)
            if size > MAX_NODES:
                raise _YAMLProblem(f"expands to more than {MAX_NODES:,} values (each *alias repeats its anchor);"
                                   " write the values out or use fewer aliases", node.start_mark)
        open_nodes.discard(key)
        memo[key] = (size, height)
        return memo[key]

    measure(root)


def _unshare(value: Any) -> Any:
    """A copy in which no section or list is shared (aliases give shared objects, and an
    override of one must not change the other)."""
    if isinstance(value, dict):
        return {k: _unshare(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unshare(v) for v in value]
    return value


def _load_yaml(text: str) -> tuple[Any, yaml.Node | None]:
    """(data, composed node) of one YAML document, with the checks above. Raises
    `_YAMLProblem` or `yaml.YAMLError`."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_size(node)
        return _unshare(loader.construct_document(node)), node
    except RecursionError:
        raise _YAMLProblem(f"nested more than {MAX_DEPTH} levels deep") from None
    except (ValueError, TypeError, OverflowError) as err:  # e.g. a date such as 2024-13-01
        raise _YAMLProblem(f"cannot read a value: {err}") from None
    finally:
        loader.dispose()


def _line_map(root: yaml.Node) -> dict[Loc, int]:
    """Map every key path in a composed YAML document to its 1-based line (a section reached
    again through an alias is not walked again; its keys point at the alias)."""
    lines: dict[Loc, int] = {}
    walked: set[int] = set()

    def walk(node: yaml.Node, prefix: Loc) -> None:
        lines.setdefault(prefix, node.start_mark.line + 1)
        if id(node) in walked:
            return
        walked.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = (*prefix, key_node.value)
                lines.setdefault(key, key_node.start_mark.line + 1)
                walk(value_node, key)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*prefix, i))

    walk(root, ())
    return lines


def _parse_yaml(text: str, source: str) -> tuple[dict[str, Any], dict[Loc, int]]:
    try:
        data, node = _load_yaml(text)
    except _YAMLProblem as err:
        where = f" [{source} line {err.mark.line + 1}]" if err.mark is not None else f" [{source}]"
        raise SpecError(f"invalid spec: {err.message}{where}") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" [{source} line {mark.line + 1}]" if mark is not None else f" [{source}]"
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SpecError(f"invalid YAML: {problem}; check indentation and quoting{where}") from None
    if data is None:
        raise SpecError(
            f"spec is empty; it needs at least `env:` and `algorithm:` (see specs/ for examples) [{source}]"
        )
    if not isinstance(data, dict):
        raise SpecError(
            f"spec must be a mapping of keys (name, env, algorithm, ...), got {type(data).__name__} [{source}]"
        )
    assert node is not None  # data is not None
    return data, _line_map(node)


# ---------------------------------------------------------------------- overrides


def apply_override(data: dict[str, Any], assignment: str) -> None:
    """Apply one `dotted.path=value` override in place; the value is parsed as YAML."""
    if "=" not in assignment:
        raise SpecError(f"--set {assignment!r}: expected dotted.path=value, e.g. --set algorithm.clip_eps=0.1")
    path, _, raw = assignment.partition("=")
    keys = [k.strip() for k in path.strip().split(".")]
    if not all(keys):
        raise SpecError(f"--set {assignment!r}: empty key in path '{path}'")
    if not raw.strip():
        raise SpecError(f"--set {assignment!r}: no value after '='; give one (write null to clear the key)")
    try:
        value, _ = _load_yaml(raw)
    except _YAMLProblem as err:
        raise SpecError(f"--set {assignment!r}: {err.message}") from None
    except yaml.YAMLError:
        raise SpecError(f"--set {assignment!r}: the value is not valid YAML; quote it") from None
    node: Any = data
    for i, key in enumerate(keys[:-1]):
        child = node.get(key) if isinstance(node, dict) else None
        if child is None:
            child = {}
            node[key] = child
        if not isinstance(child, dict):
            where = ".".join(keys[: i + 1])
            raise SpecError(f"--set {assignment!r}: '{where}' is a value, not a section")
        node = child
    node[keys[-1]] = value


# ------------------------------------------------------------------ error messages


def _strip_tags(loc: Loc, data: Any) -> Loc:
    """Drop the discriminator tags that pydantic inserts into locations of union members."""
    out: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            out.append(part)
            node = node[part]
        elif isinstance(node, list) and isinstance(part, int) and part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and node.get("kind") == part or isinstance(part, str) and part.startswith(("function-", "tagged-union")):
            continue
        else:
            out.append(part)
            node = None
    return tuple(out)


def _model_at(path: Sequence[str | int], data: Any) -> type[BaseModel] | None:
    """The spec class that validates the mapping at `path`, if there is one."""
    model: Any = ExperimentSpec
    node = data
    for part in path:
        if not (isinstance(model, type) and issubclass(model, BaseModel)):
            return None
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        node = node.get(part) if isinstance(node, dict) else None
        model = _resolve(field.annotation, node)
    return model if isinstance(model, type) and issubclass(model, BaseModel) else None


def _members(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(annotation) for m in _members(arg)]
    return [annotation]


def _resolve(annotation: Any, node: Any) -> Any:
    members = [m for m in _members(annotation) if isinstance(m, type) and issubclass(m, BaseModel)]
    if len(members) == 1:
        return members[0]
    kind = node.get("kind") if isinstance(node, dict) else None
    for m in members:
        default = m.model_fields.get("kind")
        if default is not None and default.default == kind:
            return m
    return None


def _suggest(word: str, options: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'? " if close else ""


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(err: Any, data: Any) -> tuple[Loc, str]:
    kind = err["type"]
    ctx = err.get("ctx") or {}
    loc = _strip_tags(tuple(err["loc"]), data)
    if kind == "marlspec_check":
        path = tuple(ctx["path"].split("."))
        got = ctx.get("got")
        return path, ctx["message"] + (f" (got {_short(got)})" if got is not None and "got" not in ctx["message"] else "")
    if kind == "marlspec_field":  # a model-level check about one of the model's own fields
        path = (*loc, ctx["field"])
        return path, f"{ctx['message']} (got {_short(ctx.get('got'))})"
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(loc[:-1], data)
        valid = [f for f in model.model_fields if f != "kind"] if model else []
        hint = _suggest(key, valid) or ""
        listing = f"valid keys: {', '.join(valid)}" if valid else "remove it"
        return loc, f"unknown key '{key}'; {hint}{listing}"
    if kind == "union_tag_invalid":
        tags = [t.strip().strip("'") for t in str(ctx.get("expected_tags", "")).split(",")]
        got = ctx.get("tag")
        return (*loc, "kind"), f"unknown kind '{got}'; {_suggest(str(got), tags)}choices: {', '.join(tags)}"
    if kind == "union_tag_not_found":
        model_choices = _members(_field_annotation(loc, data))
        tags = [m.model_fields["kind"].default for m in model_choices if isinstance(m, type) and issubclass(m, BaseModel)]
        return loc, f"missing 'kind'; add kind: one of {', '.join(map(str, tags))}"
    if kind == "missing":
        return loc, "required field is missing; add it"
    got = f"(got {_short(err.get('input'))})"
    bounds = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<", "less_than_equal": "<="}
    if kind in bounds:
        op = bounds[kind]
        limit = next(iter(ctx.values()))
        return loc, f"must be {op} {limit} {got}; choose a value {op} {limit}"
    if kind == "literal_error":
        options = re.findall(r"'([^']*)'", str(ctx.get("expected", "")))
        word = str(err.get("input"))
        return loc, f"'{word}' is not allowed; {_suggest(word, options)}choices: {', '.join(options)}"
    value = err.get("input")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return loc, f"must be a whole number {got}{_number_hint(value, whole=True)}"
    if kind in ("float_parsing", "float_type"):
        return loc, f"must be a number {got}{_number_hint(value, whole=False)}"
    if kind == "finite_number":
        return loc, f"must be a finite number {got}; .inf and .nan are not allowed here"
    if kind in ("bool_parsing", "bool_type"):
        return loc, f"must be true or false {got}"
    if kind in ("string_type", "string_sub_type"):
        return loc, f"must be text {got}; quote it"
    if kind in ("list_type", "tuple_type"):
        return loc, f"must be a list, e.g. [64, 64] {got}"
    if kind == "dict_type" and loc and loc[-1] == "kwargs":
        return loc, f"must be a mapping of argument names to values {got}"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        return loc, f"must be a section of keys (a mapping) {got}"
    message = err["msg"].removeprefix("Value error, ")
    return loc, f"{message} {got}"


def _number_hint(value: Any, whole: bool) -> str:
    """Why a value that looks like a number was not taken as one."""
    if isinstance(value, bool):
        return "; true and false are not numbers"
    if isinstance(value, float) and whole and value.is_integer():
        return f"; write {int(value)}"
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return ""
        if whole and number.is_integer() and abs(number) < 1e18:
            return f"; write {int(number)} without quotes"
        return "; write it without quotes (YAML reads 1e6 as text: write 1.0e+6)"
    return ""


def _field_annotation(loc: Loc, data: Any) -> Any:
    parent = _model_at(loc[:-1], data)
    if parent is None or not loc:
        return None
    field = parent.model_fields.get(str(loc[-1]))
    return field.annotation if field else None


def format_validation_error(err: ValidationError, data: Any, lines: dict[Loc, int], source: str) -> str:
    """One line for the first error; the count of the others, if any, at the end."""
    errors = err.errors()
    loc, message = _describe(errors[0], data)
    path = ".".join(str(p) for p in loc) or "<spec>"
    line = None
    for n in range(len(loc), -1, -1):
        line = lines.get(tuple(loc[:n]))
        if line is not None:
            break
    if line == OVERRIDE_LINE:
        where = " [--set]"
    else:
        where = f" [{source} line {line}]" if line is not None else f" [{source}]"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{path}: {message}{where}{more}"


# ------------------------------------------------------------------------ loading


def _drop_foreign_keys(data: dict[str, Any], overrides: Sequence[str]) -> None:
    """When `--set section.kind=...` switches a section (algorithm, env, network) to another
    kind, the file's keys that the new kind does not have are dropped with a warning, so that
    e.g. `--set algorithm.kind=fop` on a MACPF spec works. Keys given by `--set` are kept
    (and still validated)."""
    paths = [tuple(a.partition("=")[0].strip().split(".")) for a in overrides]
    for path in paths:
        if len(path) != 2 or path[1] != "kind" or not isinstance(data.get(path[0]), dict):
            continue
        section = path[0]
        model = _model_at((section,), data)
        if model is None:
            continue
        given = {p[1] for p in paths if len(p) == 2 and p[0] == section}
        foreign = [k for k in data[section] if k not in model.model_fields and k not in given]
        for k in foreign:
            del data[section][k]
        if foreign:
            print(f"note: {section}.kind={data[section].get('kind')} has no "
                  f"{', '.join(map(str, foreign))}; dropped from the spec file's {section} section", file=sys.stderr)


def _import_plugins(data: dict[str, Any], lines: dict[Loc, int], source: str) -> None:
    """Import the installed plugins and the spec's `plugins:` modules, so that the kinds they
    register validate (`marlspec.spec.registry`). A failure is one line naming the entry."""
    from marlspec.spec.registry import import_plugins, load_entry_points

    try:
        load_entry_points()
    except ValueError as err:
        raise SpecError(f"{err} [{source}]") from None
    names = data.get("plugins")
    if not isinstance(names, list):
        return  # absent, or not a list: validation reports it
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue  # validation reports it
        try:
            import_plugins([name])
        except ValueError as err:
            line = lines.get(("plugins", i), lines.get(("plugins",)))
            where = " [--set]" if line == OVERRIDE_LINE else f" [{source} line {line}]" if line else f" [{source}]"
            raise SpecError(f"plugins.{i}: {err}{where}") from None


def parse_spec(text: str, source: str = "<spec>", overrides: Sequence[str] = ()) -> ExperimentSpec:
    """Validate a YAML spec given as text."""
    data, lines = _parse_yaml(text, source)
    for assignment in overrides:
        apply_override(data, assignment)
    _drop_foreign_keys(data, overrides)
    for assignment in overrides:  # overridden keys report the override, not a file line
        key = tuple(assignment.partition("=")[0].strip().split("."))
        for k in list(lines):
            if k[: len(key)] == key:
                del lines[k]
        lines[key] = OVERRIDE_LINE
    _import_plugins(data, lines, source)
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as err:
        raise SpecError(format_validation_error(err, data, lines, source)) from None


def load_spec(path: str | Path, overrides: Sequence[str] = ()) -> ExperimentSpec:
    """Read and validate a spec file, applying `--set` overrides."""
    p = Path(path)
    if not p.exists():
        raise SpecError(f"spec file not found: {p} (check the path; examples are in specs/)")
    if p.is_dir():
        raise SpecError(f"spec path is a directory, not a YAML file: {p}")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(f"cannot read spec file {p}: {err.__class__.__name__}") from None
    return parse_spec(text, str(p), overrides)


def dump_spec(spec: ExperimentSpec) -> str:
    """The resolved spec as YAML (defaults filled in), loadable by `load_spec`."""
    data = spec.model_dump(mode="json", exclude_computed_fields=True)
    return yaml.safe_dump(data, sort_keys=False)
