"""pipeline.text.contentstream: the fast tokenizer gives exactly pypdf's operations, or declines.

The oracle is pypdf's own parser (`pdf._PYPDF_PARSE`). "Same" means same operators and operands of
the same pypdf types with equal values, checked recursively; when pypdf raises, the hooked parser
must raise the same exception type.
"""

from __future__ import annotations

import io
import random
from collections.abc import Iterator
from typing import Any

import pypdf
import pytest
from conftest import PDFS
from pypdf import generic

from pipeline.text import contentstream, pdf


def _pypdf_operations(data: bytes) -> list[Any]:
    stream = generic.ContentStream(None, None, "bytes")
    pdf._PYPDF_PARSE(stream, io.BytesIO(data))
    return stream._operations


def _hooked_operations(data: bytes) -> list[Any]:
    stream = generic.ContentStream(None, None, "bytes")
    pdf._parse_content_stream(stream, io.BytesIO(data))
    return stream._operations


def _outcome(parse: Any, data: bytes) -> tuple[str, Any]:
    try:
        return "ok", parse(data)
    except Exception as exc:
        return "error", type(exc)


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return bool(a == b)


def _streams(reader: pypdf.PdfReader) -> Iterator[tuple[str, bytes]]:
    """Every page's content and every form XObject's content, once each."""
    seen: set[int] = set()
    for number, page in enumerate(reader.pages, 1):
        contents = page.get_contents()
        if contents is not None:
            yield f"page {number}", contents.get_data()
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for name, ref in (xobjects.get_object().items() if xobjects is not None else []):
            xobject = ref.get_object()
            if id(xobject) not in seen and xobject.get("/Subtype") == "/Form":
                seen.add(id(xobject))
                yield f"page {number} form {name}", xobject.get_data()


@pytest.mark.parametrize("name", sorted(p.name for p in PDFS.glob("*.pdf")))
def test_every_stream_of_the_shared_papers_parses_exactly_as_pypdf(name: str) -> None:
    reader = pypdf.PdfReader(PDFS / name)
    count = 0
    for where, data in _streams(reader):
        fast = pdf._fast_operations(data)  # no Unsupported: these real papers take the fast path
        assert _same(fast, _pypdf_operations(data)), f"{name} {where}"
        count += 1
    assert count >= len(reader.pages)


def test_extracted_text_is_unchanged(monkeypatch: pytest.MonkeyPatch) -> None:
    path = PDFS / "pvt_2102.12122.pdf"  # the one with the most figures drawn as forms
    fast = [page.extract_text() for page in pypdf.PdfReader(path).pages]
    with monkeypatch.context() as patch:
        patch.setattr(generic.ContentStream, "_parse_content_stream", pdf._PYPDF_PARSE)
        slow = [page.extract_text() for page in pypdf.PdfReader(path).pages]
    assert fast == slow


def test_the_hook_is_installed() -> None:
    assert generic.ContentStream._parse_content_stream is pdf._parse_content_stream


# Streams chosen to reach every branch of the tokenizer and every quirk of pypdf's reader it mirrors.
EDGE_CASES: list[bytes] = [
    b"",
    b"  \n\t ",
    b"BT /F1 9.96 Tf 72 700 Td (Hello) Tj ET",
    b"q 1 0 0 1 72.5 -.5 cm 0 g 0 G 0.398 w Q",
    b"0g 1 1 1rg",  # operators glued to numbers
    b"+5 -5 5. -.5 .5 007 -0 -0.0 x",
    b"1,5 y",  # pypdf counts ',' as a number character
    b"--5 x", b"1.2.3 x", b"- x", b". x", b"+ x",
    b"123456789012345678901234567 x",  # longer than pypdf's 20-byte peek
    b"1234567890123456789012345678901234567890123456789012 x",  # longer than our limit
    b"0.12345678901 x",  # more decimals than the one-match path takes
    b"(a\\(b\\)c) Tj", b"(a(b)c) Tj", b"(a(b(c))d) Tj", b"() Tj", b"[()] TJ",
    b"(\\n\\r\\t\\b\\f\\(\\)\\/\\\\\\ \\%\\<\\>\\[\\]\\#\\_\\&\\$) Tj",
    b"(\\0\\01\\012\\0123\\101\\777\\400\\8\\9) Tj",  # octal: 1-3 digits, overflow, not octal
    b"(a\\\nb\\\r\nc\\\n\rd\\\n\ne\\\rf) Tj",  # escaped line breaks, pypdf's two-byte quirk
    b"(\\q\\z\\c) Tj",  # unknown escapes keep the backslash
    b"(\x00\x01\xff raw bytes\r\n) Tj",
    b"(unterminated Tj",
    b"<48656C6C6F> Tj <48 65 6c\n6C 6> Tj <> Tj <4> Tj",
    b"<4G> Tj",  # not hex
    b"[<0278>15(ed)-333<02656c64>] TJ",
    b"[(W)80(ord)-333.5(gap) 12 (x)]TJ",
    b"[ ] TJ [] 0 d [3 2] 0 d",
    b"[(a) [1 2 [3]] /N] x",
    b"[true false null] x", b"[truex] x", b"[nul] x", b"true false null x",
    b"[1 2 % comment\n 3] x", b"% leading comment\n1 0 0 RG", b"1 %c\n2 x",
    b"/Name /Na#20me /N\xc3\xa9 /A/B /#41 /  x",
    b"/" + b"n" * 5000 + b" x",
    b"/P <</MCID 0>> BDC (t) Tj EMC",
    b"/P <</MCID 0 /ActualText (\\376\\377\\000A)>> BDC EMC",
    b"<< /A 1 >> x",
    b"1 0 R x", b"1 0 RG 12 0 0 RG",
    b"BI /W 1 /H 1 /BPC 8 /CS /G ID \x00 EI Q",
    b"[1 2", b"] x", b"{ x", b"} x", b") x",
    b"1\x002\x00x", b"1\x0b2 x", b"(a)\x0bTj",
    b"T* (a) ' 1 2 (b) \" x",
    b"x" * 150,
    b"(a)Tj\n(b)Tj",
    b"[" * 50 + b"1" + b"]" * 50 + b" x",
    b"[" * 5000 + b"]" * 5000 + b" x",  # pypdf: RecursionError
]


@pytest.mark.parametrize("data", EDGE_CASES, ids=[repr(case[:30]) for case in EDGE_CASES])
def test_edge_cases_match_pypdf(data: bytes) -> None:
    expected = _outcome(_pypdf_operations, data)
    actual = _outcome(_hooked_operations, data)
    assert expected[0] == actual[0], (expected, actual)
    if expected[0] == "ok":
        assert _same(actual[1], expected[1])
    else:
        assert actual[1] is expected[1]


def test_most_edge_cases_take_the_fast_path() -> None:
    """The equality above is not won by always declining: count what the tokenizer itself parsed."""
    fast = 0
    for data in EDGE_CASES:
        try:
            pdf._fast_operations(data)
            fast += 1
        except Exception:  # declined or malformed: pypdf's parser takes it
            pass
    assert fast >= len(EDGE_CASES) // 2


def test_declines_what_needs_pypdf_state() -> None:
    for data in (b"BI /W 1 ID x EI", b"% c\n1 x", b"1 0 R x", b"[1 2", b"] x", b"1\x0b2 x"):
        with pytest.raises(contentstream.Unsupported):
            pdf._fast_operations(data)


_VOCABULARY = [
    b"0", b"1", b"-2.5", b".5", b"+3", b"12.", b"1,2", b"--1", b"/F1", b"/a#20b", b"/", b"(x)", b"(a\\)b)",
    b"(\\101\\9)", b"(n(e)st)", b"()", b"<41>", b"<4>", b"<>", b"[", b"]", b"[", b"]", b"Tj", b"TJ", b"Td",
    b"BT", b"ET", b"q", b"Q", b"cm", b"'", b"\"", b"true", b"null", b"<</A 1>>", b"%c\n", b"R", b"0 0 R ",
]
_SEPARATORS = [b" ", b"\n", b"\r\n", b"", b"\t", b"\x00"]


def test_random_streams_match_pypdf() -> None:
    rng = random.Random(20261125)
    fast = 0
    for _ in range(600):
        data = b"".join(rng.choice(_VOCABULARY) + rng.choice(_SEPARATORS) for _ in range(rng.randint(1, 25)))
        expected = _outcome(_pypdf_operations, data)
        actual = _outcome(_hooked_operations, data)
        assert expected[0] == actual[0], data
        if expected[0] == "ok":
            assert _same(actual[1], expected[1]), data
        else:
            assert actual[1] is expected[1], data
        try:
            pdf._fast_operations(data)
            fast += 1
        except Exception:  # declined: pypdf's parser took it
            pass
    assert fast > 100  # the fuzzing exercised the tokenizer, not only the fallback
