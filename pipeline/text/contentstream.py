"""A fast tokenizer for PDF content streams, with pypdf's exact results.

pypdf reads a content stream byte by byte in Python; on the papers we summarize that is about 40% of
text extraction. `parse_operations` reads the same stream with one compiled regular expression per
token and builds the same objects, so pypdf's text extraction runs unchanged on top of it.

Only the common, well-formed tokens are read here: operators, numbers, plain names, literal strings
without escapes or nested parentheses, hex strings and arrays. Any other object (a dictionary, a
string with escapes, a name with ``#`` codes...) is read by ``Builders.read_object``, i.e. by pypdf
itself, at that offset. Constructs whose meaning depends on pypdf's parser state (comments, inline
images, what looks like an indirect reference, an unterminated array, stray bytes) raise
`Unsupported`, and the caller parses the whole stream with pypdf instead. Either way the result is
pypdf's; the tests compare both parsers object for object.

This module does not import pypdf: the object constructors come in through `Builders`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# PDF whitespace as pypdf skips it between tokens (NUL, TAB, LF, FF, CR, SPACE; not VT).
_WS = rb"[\x00\t\n\f\r ]*"
# Bytes that end a name or an operator in pypdf (regex whitespace, which includes VT but not NUL,
# and the PDF delimiters).
_DELIMITER = rb"\s()<>\[\]{}/%"
# Name characters read here: printable ASCII except delimiters and the '#' of escape codes.
_NAME_CHARS = b"".join(re.escape(bytes([c])) for c in range(0x21, 0x7F) if c not in b"()<>[]{}/%#")

_TOKEN = re.compile(
    _WS + rb"(?:"
    # pypdf's number characters are '+' to '.' (so ',' too) and digits; a token must be all of them.
    rb"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))(?![+,\-.0-9])"
    rb"|(?P<operator>[A-Za-z'\"][^" + _DELIMITER + rb"]*)"
    rb"|/(?P<name>[" + _NAME_CHARS + rb"]*)(?=[" + _DELIMITER + rb"]|\Z)"
    rb"|\((?P<string>[^\\()]*(?:\\.[^\\()]*)*)\)"
    rb"|<(?P<hex>[0-9A-Fa-f\x00\t\n\f\r ]*)>"
    rb"|(?P<open>\[)"
    rb"|(?P<close>\])"
    rb"|(?P<end>\Z)"
    rb")",
    re.DOTALL,
)
# A number of at most 40 characters (longer ones go through pypdf's own length checks).
_SHORT_NUMBER = rb"[+-]?(?:[0-9]{1,30}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})"
# A whole operation whose operands are only numbers and plain names, each followed by whitespace:
# most of a content stream ("0 0 1 rg", "/F1 9.96 Tf", "1 0 0 1 72 700 Tm"), read in one match.
_SIMPLE = re.compile(
    _WS + rb"((?:(?:" + _SHORT_NUMBER + rb"|/[" + _NAME_CHARS + rb"]{0,999})[\t\n\f\r ]+)*)"
    rb"([A-Za-z'\"][^" + _DELIMITER + rb"]*)",
)
# A whole operation whose only operand is an array of literal strings and numbers: the TJ that
# shows most of a paper's text ("[(W)80(ord)-333(gap)]TJ"), read in one match plus one findall.
_STRING = rb"\([^\\()]*(?:\\.[^\\()]*)*\)"
_NUMBER = _SHORT_NUMBER + rb"(?![+,\-.0-9])"
_ARRAY_OPERATION = re.compile(
    _WS + rb"\[((?:" + _WS + rb"(?:" + _STRING + rb"|<[0-9A-Fa-f]*>|" + _NUMBER + rb"))*)" + _WS + rb"\]"
    + _WS + rb"([A-Za-z'\"][^" + _DELIMITER + rb"]*)",
    re.DOTALL,
)
# One element of such an array: (string contents, b"", b""), (b"", hex digits, b"") or (b"", b"", number).
_ELEMENT = re.compile(
    _WS + rb"(?:\(([^\\()]*(?:\\.[^\\()]*)*)\)|<([0-9A-Fa-f]*)>|([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)))",
    re.DOTALL)
_HEX_SPACE = re.compile(rb"[\x00\t\n\f\r ]")
# A backslash escape in a literal string: octal code, escaped line break, or one character.
_ESCAPE = re.compile(rb"\\(?:([0-7]{1,3})|([\r\n][\r\n]?)|(.))", re.DOTALL)
# pypdf's table of one-character escapes (the PDF ones plus a few it tolerates).
_ESCAPES = {ord(k): v for k, v in {
    "n": b"\n", "r": b"\r", "t": b"\t", "b": b"\b", "f": b"\f", "(": b"(", ")": b")", "/": b"/",
    "\\": b"\\", " ": b" ", "%": b"%", "<": b"<", ">": b">", "[": b"[", "]": b"]", "#": b"#", "_": b"_",
    "&": b"&", "$": b"$"}.items()}
# What pypdf's object reader takes for an indirect reference ("12 0 R"); in a content stream it fails.
_LONE_R = re.compile(rb"R[^a-zA-Z]")  # a quick filter for the slower pattern below
_INDIRECT = re.compile(rb"[+-]?(\d+)\s+(\d+)\s+R[^a-zA-Z]")

# Longer tokens are left to pypdf, which enforces its own length limits on them.
_MAX_OPERATOR = 100
_MAX_NAME = 4000
_MAX_NUMBER = 40
# pypdf reads nested arrays recursively and fails with RecursionError somewhere past a few hundred
# levels; deeper than this, its own parser decides.
_MAX_DEPTH = 100


class Unsupported(Exception):
    """The stream holds a construct this tokenizer leaves to pypdf's own parser."""


@dataclass(frozen=True)
class Builders:
    """How to make each kind of object, and how to read any other object at an offset."""

    integer: Callable[[bytes], Any]
    real: Callable[[bytes], Any]
    name: Callable[[str], Any]
    string: Callable[[bytes], Any]
    array: Callable[[list[Any]], Any]
    read_object: Callable[[int], tuple[Any, int]]  # offset -> (object, offset after it)
    max_array: int = 100_000


Operation = tuple[Any, bytes]


def parse_operations(data: bytes, build: Builders) -> list[Operation]:
    """The (operands, operator) pairs of content stream ``data``, as pypdf would parse them.

    Raises `Unsupported` when the stream needs pypdf's own parser.
    """
    if b"R" in data and _LONE_R.search(data) and _INDIRECT.search(data):
        raise Unsupported("what pypdf would read as an indirect reference")
    integer, real, name, string, array = build.integer, build.real, build.name, build.string, build.array
    match = _TOKEN.match
    simple = _SIMPLE.match
    array_operation = _ARRAY_OPERATION.match
    elements = _ELEMENT.findall
    operations: list[Operation] = []
    operands: list[Any] = []
    stack: list[list[Any]] = []  # open arrays, innermost last
    items = operands
    pos = 0
    while True:
        if not items and not stack:
            whole = simple(data, pos)
            if whole is not None:
                run, operator = whole.groups()
                if operator == b"BI" or len(operator) > _MAX_OPERATOR:
                    raise Unsupported("inline image or long operator")
                operations.append(([name(t.decode("ascii")) if t[0] == 47 else real(t) if b"." in t else integer(t)
                                    for t in run.split()], operator))
                pos = whole.end()
                continue
            whole = array_operation(data, pos)
            if whole is not None:
                content, operator = whole.groups()
                if operator == b"BI" or len(operator) > _MAX_OPERATOR:
                    raise Unsupported("inline image or long operator")
                found_elements = elements(content)
                values = [(integer(n) if b"." not in n else real(n)) if n else
                          string(_from_hex(h)) if h else
                          string(_ESCAPE.sub(_unescape, t) if b"\\" in t else t) for t, h, n in found_elements]
                if len(values) > build.max_array:
                    raise Unsupported("array over pypdf's element limit")
                operations.append(([array(values)], operator))
                pos = whole.end()
                continue
        found = match(data, pos)
        if found is None:
            # Something else starts here (after any whitespace): pypdf reads it.
            start = pos
            while data[start:start + 1] in (b"\x00", b"\t", b"\n", b"\f", b"\r", b" "):
                start += 1
            if data[start:start + 1] in (b"%", b"\x0b"):  # pypdf's comment and VT handling differ by context
                raise Unsupported("comment or vertical tab")
            value, pos = build.read_object(start)
            items.append(value)
            continue
        kind = found.lastgroup
        pos = found.end()
        if kind == "number":
            token = found.group(kind)
            if len(token) > _MAX_NUMBER:
                raise Unsupported("long number")
            items.append(real(token) if b"." in token else integer(token))
        elif kind == "operator":
            token = found.group(kind)
            if stack:  # true/false/null and the like inside an array: pypdf's object reader
                value, pos = build.read_object(found.start(kind))
                items.append(value)
            elif token == b"BI" or len(token) > _MAX_OPERATOR:
                raise Unsupported("inline image or long operator")
            else:
                operations.append((operands, token))
                operands = items = []
        elif kind == "name":
            token = found.group(kind)
            if len(token) > _MAX_NAME:
                raise Unsupported("long name")
            items.append(name("/" + token.decode("ascii")))
        elif kind == "string":
            token = found.group(kind)
            items.append(string(_ESCAPE.sub(_unescape, token) if b"\\" in token else token))
        elif kind == "hex":
            items.append(string(_from_hex(_HEX_SPACE.sub(b"", found.group(kind)))))
        elif kind == "open":
            if len(stack) >= _MAX_DEPTH:
                raise Unsupported("arrays nested deeper than pypdf's recursion allows")
            stack.append(items)
            items = []
        elif kind == "close":
            if not stack:
                raise Unsupported("']' without '['")
            if len(items) > build.max_array:
                raise Unsupported("array over pypdf's element limit")
            finished = array(items)
            items = stack.pop()
            items.append(finished)
        else:  # end of data
            if stack:
                raise Unsupported("unterminated array")
            return operations


def _unescape(escape: re.Match[bytes]) -> bytes:
    """One backslash escape of a literal string, decoded as pypdf decodes it."""
    octal, line_break, char = escape.groups()
    if octal is not None:
        code = int(octal, 8)
        return bytes((code,)) if code <= 255 else b"\\" + octal  # pypdf keeps an overflowing code as text
    if line_break is not None:
        return b""  # an escaped line break continues the string on the next line
    return _ESCAPES.get(char[0]) or b"\\" + char  # an unknown escape keeps its backslash


def _from_hex(digits: bytes) -> bytes:
    """The bytes of a hex string's digits; an odd last digit counts as followed by 0 (as in pypdf)."""
    return bytes.fromhex((digits + b"0").decode() if len(digits) % 2 else digits.decode())
