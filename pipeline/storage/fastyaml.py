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
import functools
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
    return _resolved(value)


@functools.lru_cache(maxsize=4096)
def _resolved(value: str) -> Any:
    # Floats, 0o/0x, other timestamp spellings, text such as 2024-08: the resolver above decides
    # exactly. A few distinct values recur in every file (a version, 0.0, a month), hence the cache;
    # only immutable values come back from it (numbers, text, dates).
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


# --------------------------------------------------------------------------- fast dump of new files

# A plain scalar the round-trip dumper writes as is: it starts with a letter (no indicator, no number,
# no leading space), holds only characters it prints unescaped with ``allow_unicode`` (no line
# break, tab, control character or BOM), no ": " or " #" and does not end in ":" or a space. Words
# YAML reads as something other than text go through `_quoted`, which asks the dumper itself.
_PLAIN = re.compile("[^\\W\\d_][ -~\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]*")
_NOT_TEXT = frozenset({"true", "True", "TRUE", "false", "False", "FALSE", "null", "Null", "NULL", "yes", "Yes",
                       "YES", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF", "y", "Y", "n", "N"})
# The dumper folds a line longer than its width (4096) at a space; a line near that goes to the dumper.
_LONGEST_LINE = 3000
_BREAK = re.compile("[\n\r\x85\u2028\u2029]")
_quoted_cache: dict[str, str | None] = {}


class _Unsure(Exception):
    """The dump needs the round-trip dumper."""


def _plain(text: str) -> bool:
    return (_PLAIN.fullmatch(text) is not None and text not in _NOT_TEXT and ": " not in text
            and " #" not in text and text[-1] not in ": ")


def _quoted(text: str) -> str | None:
    # How the round-trip dumper writes this text as a block value: asked once per distinct text, and
    # used only when it fits on one line (the style of a one-line value does not depend on where it is).
    if text in _quoted_cache:
        return _quoted_cache[text]
    shown: str | None = None
    if len(text) < _LONGEST_LINE:
        lines = files.dump_yaml({"k": text}).split("\n")
        if len(lines) == 2 and lines[1] == "" and lines[0].startswith("k: "):
            shown = lines[0][3:]
    if len(_quoted_cache) < 100_000:
        _quoted_cache[text] = shown
    return shown


def _value(value: Any) -> str:
    if isinstance(value, str):
        if _BREAK.search(value):
            # A newline is a literal block (|) in the callers' documents; a quoted line break is laid
            # out by where it stands.
            raise _Unsure
        if value and _plain(value):
            return value
        shown = _quoted(value)
        if shown is None:
            raise _Unsure
        return shown
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is float:
        shown = repr(value)
        if "." in shown and "e" not in shown and "n" not in shown:  # not 1e-05, inf or nan
            return shown
    raise _Unsure


def _key(key: Any) -> str:
    if not isinstance(key, str) or len(key) >= 128 or not _plain(key):  # 128: the dumper's simple-key limit
        raise _Unsure
    return key


def _emit_map(data: dict[Any, Any], indent: int, out: list[str], first_prefix: str | None = None) -> None:
    pad = " " * indent
    for position, (key, value) in enumerate(data.items()):
        lead = first_prefix if position == 0 and first_prefix is not None else pad
        head = f"{lead}{_key(key)}:"
        if isinstance(value, dict):
            if value:
                out.append(head)
                _emit_map(value, indent + 2, out)
            else:
                out.append(head + " {}")
        elif isinstance(value, list):
            if value:
                out.append(head)
                _emit_seq(value, indent + 2, out)
            else:
                out.append(head + " []")
        else:
            out.append(f"{head} {_value(value)}")


def _emit_seq(data: list[Any], indent: int, out: list[str]) -> None:
    pad = " " * indent
    for item in data:
        if isinstance(item, dict):
            if item:
                _emit_map(item, indent + 2, out, first_prefix=f"{pad}- ")
            else:
                out.append(f"{pad}- {{}}")
        elif isinstance(item, list):
            if item:
                raise _Unsure  # a list in a list: rare, and laid out differently
            out.append(f"{pad}- []")
        else:
            out.append(f"{pad}- {_value(item)}")


def dump(data: Any) -> str | None:
    """``data`` (plain dicts, lists, text, numbers, booleans) as the exact text the round-trip dumper
    (`files.dump_yaml`) writes for it, or None: dump it with that dumper instead.

    For new files, which carry no comments to keep: ruamel's pure-Python emitter took 6 ms a summary
    file. Every text it cannot vouch for is given to the round-trip dumper alone (cached), so quoting
    stays the dumper's own; None, a list in a list, an unusual number or key, a multi-line text or a
    line near the dumper's width sends the whole document there.
    """
    if not isinstance(data, dict) or not data:
        return None
    out: list[str] = []
    try:
        _emit_map(data, 0, out)
    except _Unsure:
        return None
    if any(len(line) > _LONGEST_LINE for line in out):
        return None
    return "\n".join(out) + "\n"
