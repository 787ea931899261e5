"""Fast read-only YAML: plain data through libyaml, for commands that only read.

`render`, `validate`, `lint` and `review list` read every summary file and papers.yaml but write none
of them, so they need neither comments nor positions. The round-trip loader (`files.round_trip_yaml`,
pure Python, gathering comments) took 12 ms per summary file; PyYAML's C loader (libyaml) takes under
1 ms. `load` gives the same plain data as the round-trip loader, or None whenever it cannot promise
that, and the caller then loads the file round-trip, which also locates any error by line:

- resolution follows YAML 1.2 as ruamel does (``yes``/``on`` and ``012`` stay text; only true/false,
  decimal, 0o and 0x numbers, floats, null and timestamps are typed), not PyYAML's YAML 1.1;
- an anchor, alias or tag (refused by the round-trip loader, see `pipeline.storage.files`), a plain
  number the two YAML versions read differently (``012``, ``1_000``), a file over the size, node or
  depth limits (`files.limits`) or a syntax error sends the file to the round-trip loader;
- without libyaml (a PyYAML built without it) every file goes round-trip.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from typing import Any

import yaml

from pipeline.storage import files

_C_LOADER: type[yaml.SafeLoader] | None = getattr(yaml, "CSafeLoader", None)
# Plain scalars the two YAML versions read differently (012: octal or decimal; 1_000; 0b101; 1:20).
_AMBIGUOUS = re.compile(r"^[-+]?0[0-9_]|^[-+]?[0-9][0-9_]*[_:]|^0b")

if _C_LOADER is not None:
    class _Loader(_C_LOADER):  # type: ignore[valid-type,misc]
        """libyaml's safe loader with YAML 1.2 core-schema resolution."""

    _Loader.yaml_implicit_resolvers = {}
    for _tag, _pattern, _first in [
        ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
        ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
        ("int", r"^(?:[-+]?(?:0|[1-9][0-9]*)|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
        ("float", r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)"
                  r"|\.(?:nan|NaN|NAN))$", "-+0123456789."),
        ("timestamp", r"^(?:[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}"
                      r"(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?)?)$", "0123456789"),
    ]:
        _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))


def available() -> bool:
    """Whether the fast path exists here (PyYAML built with libyaml)."""
    return _C_LOADER is not None


_WORDS: dict[str, Any] = {"": None, "~": None, "null": None, "Null": None, "NULL": None, "true": True,
                          "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_NUMBER_START = frozenset("0123456789+-.")
_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class _Refused(Exception):
    """The file needs the round-trip loader."""


def _scalar(event: yaml.ScalarEvent) -> Any:
    value: str = event.value
    if not event.implicit[0]:
        return value  # quoted or block scalar: text
    if value in _WORDS:
        return _WORDS[value]
    if value[:1] not in _NUMBER_START:
        return value
    if len(value) > 64:
        raise _Refused  # a number of many digits: the round-trip loader refuses it with its line
    if _AMBIGUOUS.match(value):
        raise _Refused
    if _INT.fullmatch(value):
        return int(value)
    if _DATE.match(value):
        try:
            return dt.date.fromisoformat(value) if len(value) == 10 else dt.datetime.fromisoformat(value)
        except ValueError:
            pass
    # Floats, 0o/0x, other timestamp spellings: rare in these files; the resolver above decides exactly.
    return yaml.load(f"v: {value}\n", Loader=_Loader)["v"]


def _construct(text: str, max_nodes: int, max_depth: int) -> Any:
    """Plain data from libyaml's event stream in one pass, refusing anchors, aliases, tags, ambiguous
    numbers and documents over the node or depth limit (`_Refused`)."""
    stack: list[Any] = []
    keys: list[Any] = []
    root: Any = None
    nodes = 0
    events: Iterable[Any] = yaml.parse(text, Loader=_Loader)  # Any: one type test per event, not four
    for event in events:
        kind = type(event)
        if kind is yaml.ScalarEvent:
            if event.anchor is not None or event.tag is not None:
                raise _Refused
            value: Any = _scalar(event)
        elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
            if event.anchor is not None or event.tag is not None:
                raise _Refused
            value = {} if kind is yaml.MappingStartEvent else []
        elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
            root = stack.pop()
            keys.pop()
            continue
        elif kind is yaml.AliasEvent:
            raise _Refused
        else:
            continue
        nodes += 1
        if nodes > max_nodes or len(stack) > max_depth:
            raise _Refused
        if not stack:
            root = value
        elif keys[-1] is None:  # a sequence
            stack[-1].append(value)
        elif keys[-1] is _NO_KEY:
            if kind is not yaml.ScalarEvent or not isinstance(value, str) or value in stack[-1]:
                # Complex, repeated or non-text keys (a null key once stood for "a sequence" here):
                # the round-trip loader decides.
                raise _Refused
            keys[-1] = value
        else:
            stack[-1][keys[-1]] = value
            keys[-1] = _NO_KEY
        if kind is not yaml.ScalarEvent:
            stack.append(value)
            keys.append(_NO_KEY if kind is yaml.MappingStartEvent else None)
    return root


_NO_KEY = object()


def load(text: str) -> Any | None:
    """The plain data of ``text`` (dicts, lists, scalars), or None: load it round-trip instead."""
    if _C_LOADER is None:
        return None
    limits = files.limits()
    if len(text.encode("utf-8")) > limits.yaml_max_bytes:
        return None
    try:
        return _construct(text, limits.yaml_max_nodes, limits.yaml_max_depth)
    except (_Refused, yaml.YAMLError, ValueError):
        return None  # the round-trip loader reports it with its line, or reads it exactly
