"""Load a config file: parse YAML safely, expand ``${VAR}``, validate, resolve — or explain.

The steps, each of which can stop with a :class:`~sqlsentinel.errors.ConfigError`:

1. Parse with PyYAML's safe loader (the C one when available): no Python tags, one document.
2. Index the YAML nodes: the line of every key and list item, and duplicate keys (PyYAML
   would silently keep the last one; we refuse, since the first one was meant too).
3. Expand environment variables inside string values, never inside ``query``.
4. Validate against the models in :mod:`sqlsentinel.config.schema`, rejecting unknown keys.
5. Resolve defaults and cross-references (:func:`sqlsentinel.config.model.resolve`).

Every problem becomes one line ``file:line: alert 'name' field 'key': what is wrong and what
to do``, and all problems found in a step are reported together.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sqlsentinel.config import messages
from sqlsentinel.config.env import ExpansionProblem, expand_tree
from sqlsentinel.config.model import Config, resolve
from sqlsentinel.config.schema import ConfigFile
from sqlsentinel.errors import ConfigError, ConfigProblem
from sqlsentinel.redact import redactor

__all__ = ["load_config", "load_config_text"]

_BaseLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_MAX_NODE_VISITS = 200_000
_MAX_DEPTH = 50
DocPath = tuple[Any, ...]


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Config:
    """Load, validate and resolve the config file at ``path``.

    ``environ`` defaults to ``os.environ``; tests and the Lambda handler pass their own.
    Secrets the config holds are registered with :data:`sqlsentinel.redact.redactor`.
    """
    display = os.fspath(path)
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        relative = "" if Path(path).is_absolute() else f" (it is relative to {Path.cwd()})"
        raise ConfigError(f"{display}: no such file; check the path{relative}") from None
    except IsADirectoryError:
        raise ConfigError(f"{display}: is a directory; give the path of the YAML file") from None
    except OSError as exc:
        raise ConfigError(f"{display}: cannot be read ({exc.strerror})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            ConfigProblem(
                f"is not UTF-8 text (byte {exc.start} cannot be decoded); save it as UTF-8",
                display,
                line,
            )
        ) from None
    return load_config_text(text, source=display, environ=environ)


def load_config_text(
    text: str, *, source: str | None = None, environ: Mapping[str, str] | None = None
) -> Config:
    """Load a config from YAML ``text``; ``source`` names it in error messages."""
    environ = os.environ if environ is None else environ
    label = source or "<config>"
    data, lines = _parse(text, label)
    locate = _locator(lines)

    if not isinstance(data, dict):
        raise ConfigError(
            ConfigProblem(
                "must be a mapping with an 'alerts:' list at the top level, but it is "
                f"{messages.describe(data)}",
                label,
                1,
            )
        )
    # Top-level ``x-`` keys are extension fields, as in Docker Compose: a place to define YAML
    # anchors (``x-oncall: &oncall [...]``) that alerts then reuse. They are not validated.
    data = {key: value for key, value in data.items() if not _is_extension(key)}
    # Keep going after an unset variable so that one run reports every problem in the file;
    # validation errors on a value that could not be expanded would only repeat it.
    expanded, env_problems = expand_tree(data, environ, skip=_is_query)
    problems = [_expansion_problem(p, data, label, locate) for p in env_problems]
    if any(p.fatal for p in env_problems):
        raise ConfigError(problems)  # the document is not worth validating
    unexpanded = {p.path for p in env_problems}
    try:
        spec = ConfigFile.model_validate(expanded)
    except ValidationError as exc:
        problems += messages.from_validation(exc, expanded, label, locate, ignore=unexpanded)
        raise ConfigError(sorted(problems, key=_by_line)) from None
    try:
        config = resolve(spec, source=label, locate=locate)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(sorted(problems, key=_by_line))
    redactor.add(*config.secrets())
    return config


class _Loader(_BaseLoader):  # type: ignore[valid-type, misc]
    """PyYAML's safe loader (the C one when available), with bad tagged scalars explained.

    PyYAML's constructors fail on ``!!int ''`` or ``!!timestamp soon`` with a bare
    ``ValueError``, ``IndexError`` or ``AttributeError``; this turns those into a
    ``ConstructorError`` that carries the line, like every other YAML error.
    """

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError):
            tag = str(node.tag).replace("tag:yaml.org,2002:", "!!")
            value = str(node.value)
            shown = repr(value if len(value) <= 40 else f"{value[:40]}...")
            raise yaml.constructor.ConstructorError(
                None, None, f"{shown} cannot be read as {tag}", node.start_mark
            ) from None


def _by_line(problem: ConfigProblem) -> int:
    return problem.line or 0


def _is_extension(key: object) -> bool:
    return isinstance(key, str) and key.startswith("x-")


def _is_query(path: DocPath) -> bool:
    return len(path) == 3 and path[0] == "alerts" and path[2] == "query"


def _parse(text: str, label: str) -> tuple[Any, dict[DocPath, int]]:
    """Return the document and the line of every path in it."""
    try:
        loader = _Loader(text)
    except UnicodeEncodeError as exc:  # a lone surrogate, from a str that never was UTF-8
        line = text[: exc.start].count("\n") + 1
        raise ConfigError(
            ConfigProblem("contains a character that is not valid Unicode text", label, line)
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(
                ConfigProblem("is empty; a config needs at least an 'alerts:' list", label)
            )
        index = _Index(label, loader.construct_object)
        index.walk(node, (), overwrite=True)
        if index.problems:
            raise ConfigError(index.problems)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        raise ConfigError(_yaml_problem(exc, label, text)) from None
    except yaml.reader.ReaderError as exc:
        line = text[: exc.position].count("\n") + 1
        char = chr(exc.character) if isinstance(exc.character, int) else exc.character
        raise ConfigError(
            ConfigProblem(
                f"contains the control character {char!r}, which YAML does not allow; remove it",
                label,
                line,
            )
        ) from None
    except yaml.YAMLError as exc:
        message = " ".join(str(exc).split())
        raise ConfigError(ConfigProblem(f"is not valid YAML: {message}", label)) from None
    except RecursionError:
        raise ConfigError(
            ConfigProblem("nests too deeply to be a config; simplify its structure", label)
        ) from None
    finally:
        loader.dispose()
    _apply_channel_pairs(data, index, label)
    return data, index.lines


def _apply_channel_pairs(data: Any, index: _Index, label: str) -> None:
    """Read each SQL Sentinel ``channel: slack`` + ``channel: "#room"`` pair as type and room."""
    problems = []
    for path, (kind, slack_channel) in index.channel_pairs.items():
        entry = messages.value_at(data, path)
        if not isinstance(entry, dict):
            continue
        if entry.get("slack_channel", slack_channel) != slack_channel:
            alert, field = messages.subject(path, data)
            problems.append(
                ConfigProblem(
                    "gives the Slack channel twice, as a second 'channel:' and as "
                    "'slack_channel:'; keep one",
                    label,
                    index.lines.get((*path, "slack_channel")),
                    alert,
                    field,
                )
            )
        entry["channel"], entry["slack_channel"] = kind, slack_channel
    if problems:
        raise ConfigError(problems)


def _yaml_problem(exc: yaml.MarkedYAMLError, label: str, text: str) -> ConfigProblem:
    mark = exc.problem_mark or exc.context_mark
    line = mark.line + 1 if mark is not None else None
    problem = exc.problem or "invalid YAML"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        return ConfigProblem(
            "is not valid YAML: it uses a tab character; YAML indents with spaces only",
            label,
            line,
        )
    if "could not determine a constructor for the tag" in problem:
        tag = problem.split("'")[1] if problem.count("'") >= 2 else "?"
        return ConfigProblem(
            f"the YAML tag '{tag.replace('tag:yaml.org,2002:', '!!')}' is not allowed; a config "
            "holds plain values, lists and mappings only",
            label,
            line,
        )
    if "expected a single document" in f"{problem} {exc.context}":
        return ConfigProblem(
            "holds more than one YAML document ('---'); put everything in one", label, line
        )
    context = ""
    if exc.context:
        context_line = exc.context_mark.line + 1 if exc.context_mark else None
        started = f" that starts on line {context_line}" if context_line != line else ""
        context = f" ({exc.context}{started})"
    return ConfigProblem(f"is not valid YAML: {problem}{context}", label, line)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.splitlines()
    return lines[line][column : column + 1] if 0 <= line < len(lines) else ""


class _Index:
    """Walk YAML nodes before construction, where lines and repeated keys are still visible."""

    def __init__(self, label: str, construct: Callable[[yaml.Node], Any]) -> None:
        self.label = label
        self._construct = construct  # keys as the document will hold them: 5, not '5'
        self.lines: dict[DocPath, int] = {}
        self.problems: list[ConfigProblem] = []
        self.channel_pairs: dict[DocPath, tuple[str, str]] = {}
        self._active: set[int] = set()
        self._visits = 0

    def walk(self, node: yaml.Node, path: DocPath, *, overwrite: bool) -> None:
        """Record lines under ``node``; merged (``<<``) keys never override the mapping's own."""
        if len(path) > _MAX_DEPTH:
            # Stop here, before expansion and validation recurse into it and overflow the stack.
            raise ConfigError(
                ConfigProblem(
                    f"nests more than {_MAX_DEPTH} levels deep, which no config needs; "
                    "simplify its structure",
                    self.label,
                    node.start_mark.line + 1,
                )
            )
        self._visits += 1
        if self._visits > _MAX_NODE_VISITS or id(node) in self._active:
            return  # alias bombs and self-containing aliases are reported when expanding
        self._active.add(id(node))
        if not path:
            self.lines[path] = node.start_mark.line + 1
        try:
            if isinstance(node, yaml.MappingNode):
                self._mapping(node, path, overwrite=overwrite)
            elif isinstance(node, yaml.SequenceNode):
                for index, item in enumerate(node.value):
                    if overwrite or (*path, index) not in self.lines:
                        self.lines[(*path, index)] = item.start_mark.line + 1
                    self.walk(item, (*path, index), overwrite=overwrite)
        finally:
            self._active.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: DocPath, *, overwrite: bool) -> None:
        seen: dict[object, tuple[int, yaml.Node]] = {}
        merges = []
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                merges.append(value_node)
                continue
            key = self._construct(key_node) if isinstance(key_node, yaml.ScalarNode) else []
            if not _hashable(key):
                continue  # constructing the document reports the unhashable key
            line = key_node.start_mark.line + 1
            if key in seen:
                first_line, first_value = seen[key]
                pair = self._is_slack_channel(path, key, first_value, value_node)
                if pair and path not in self.channel_pairs:
                    self.channel_pairs[path] = (first_value.value, value_node.value)
                    continue
                self.problems.append(
                    ConfigProblem(
                        f"the key '{messages.printable(key_node.value)}' appears twice "
                        f"(first on line {first_line}); YAML would silently keep only the "
                        "last one, so remove one",
                        self.label,
                        line,
                    )
                )
                continue
            seen[key] = (line, value_node)
            child = (*path, key)
            if overwrite or child not in self.lines:
                self.lines[child] = line
            self.walk(value_node, child, overwrite=overwrite)
        for merge in merges:
            sources = merge.value if isinstance(merge, yaml.SequenceNode) else [merge]
            for source in sources:
                self.walk(source, path, overwrite=False)

    @staticmethod
    def _is_slack_channel(path: DocPath, key: object, first: yaml.Node, second: yaml.Node) -> bool:
        """Say whether a repeated ``channel`` key is SQL Sentinel's Slack channel override.

        SQL Sentinel documents ``- channel: slack`` followed by ``channel: "#alerts"`` in one
        notify entry; such files keep working: the pair is read as the type and
        ``slack_channel``.
        """
        return (
            key == "channel"
            and len(path) >= 2
            and path[-2] == "notify"
            and isinstance(first, yaml.ScalarNode)
            and isinstance(second, yaml.ScalarNode)
            and first.value == "slack"
        )


def _hashable(key: object) -> bool:
    try:
        hash(key)
    except TypeError:
        return False
    return True


def _locator(lines: dict[DocPath, int]) -> messages.Locate:
    def locate(path: DocPath) -> int | None:
        for end in range(len(path), -1, -1):
            line = lines.get(path[:end])
            if line is not None:
                return line
        return None

    return locate


def _expansion_problem(
    problem: ExpansionProblem, data: Any, label: str, locate: messages.Locate
) -> ConfigProblem:
    alert, field = messages.subject(problem.path, data)
    message = messages.printable(problem.message)
    return ConfigProblem(message, label, locate(problem.path), alert, field)
