"""Cleaning raw PDF page text. Pure functions: strings in, strings out.

The order matters and `clean_pages` applies it: normalise characters (NFKC folds the ligatures
ﬁ ﬂ ﬀ ﬃ ﬄ), drop the arXiv side stamp, drop lines repeated at the same edge of many pages
(running headers, licence footers such as IEEE's "Authorized licensed use limited to ..."), drop
page numbers, repair glyphs pypdf could not map, then join words hyphenated across line ends.
Lines are kept (section detection needs them); `reflow` joins them into paragraphs at the end.
"""

from __future__ import annotations

import re
import statistics
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

# Spacing accents that TeX fonts emit before the letter they belong to ("Doll´ar", "Teˇsanovi´c").
_SPACING_ACCENTS = {
    "´": "\u0301", "`": "\u0300", "ˆ": "\u0302", "˜": "\u0303", "¨": "\u0308", "ˇ": "\u030c",
    "˘": "\u0306", "˚": "\u030a", "¸": "\u0327", "˝": "\u030b", "¯": "\u0304",
}
_ACCENT_LETTER = re.compile(f"([{''.join(_SPACING_ACCENTS)}])([A-Za-zıȷ])")
# Soft hyphen, zero-width characters, BOM, and the bidirectional controls (LRM/RLM, ALM, the embeddings,
# overrides and isolates), which can make a line display in another order than it reads.
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff\u061c\u202a-\u202e\u2066-\u2069]")
# C0 controls (but not tab/newline), DEL and C1 controls.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
# Terminal escape sequences, removed whole from metadata: strings (OSC, DCS, SOS, PM, APC) up to their
# terminator, CSI sequences, then any other ESC sequence. A string's body holds no control character,
# so every attempt stops at the next one and the search stays linear.
_ESCAPE_SEQUENCE = re.compile(
    r"(?:\x1b[]PX^_]|[\x90\x98\x9d-\x9f])[^\x00-\x1f\x7f-\x9f]*(?:\x07|\x1b\\|\x9c)"
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b[ -/]*[0-~]")
_SPACES = re.compile(r"[ \t\u00a0\u2000-\u200a\u202f\u205f\u3000]+")

# arXiv's side stamp: "arXiv:2209.08575v1 [cs.CV] 18 Sep 2022", old style "arXiv:hep-th/9901001v2 ...".
_STAMP = re.compile(
    r"arXiv:(?:\d{4}\.\d{4,5}|[a-z-]+(?:\.[A-Z]{2})?/\d{7})(?:v\d+)?\[[a-zA-Z.-]+\]"
    r"\d{1,2}(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\d{4}",
    re.IGNORECASE,
)
# Used on lines with all whitespace removed, since pypdf may space the rotated stamp oddly.
_STAMP_LINE = re.compile(rf"^(?:{_STAMP.pattern})$", re.IGNORECASE)

# Licence and download footers that publishers stamp on pages; caught here even on a single page.
_FOOTER_PATTERNS = (
    re.compile(r"^Authorized licensed use limited to\b.*(Restrictions apply\.?)?$", re.IGNORECASE),
    re.compile(r"^Downloaded (from|on)\b.*\b(IEEE Xplore|terms of use|wiley|springer)\b", re.IGNORECASE),
    re.compile(r"^This (CVPR|ICCV|WACV|ECCV|\w+) (\w+ )?paper is the Open Access version\b", re.IGNORECASE),
    re.compile(r"^Except for this watermark, it is identical to the (accepted|final) version\b", re.IGNORECASE),
)
# First-page venue notes and copyright lines: not the paper's text, and they split words across pages.
_VENUE_PATTERNS = (
    re.compile(r"^\d+(st|nd|rd|th) Conference on Neural Information Processing Systems\b.*\d{4}\)", re.IGNORECASE),
    re.compile(r"^\d{4} IEEE (International |Winter )?Conference on [A-Z][\w ,]+$"),
    re.compile(r"^[\dX]{4}-[\dX]{4}/\d{2} \$\d+\.\d{2} © \d{4} IEEE$"),
    re.compile(r"^DOI:? 10\.\d{4,9}/\S+$"),
    re.compile(r"^Preprint\. (Under review|Work in progress)\.?$", re.IGNORECASE),
)
_PAGE_NUMBER = re.compile(r"^(?:page\s+)?\d{1,4}(?:\s*(?:/|of)\s*\d{1,4})?$", re.IGNORECASE)
_DIGITS = re.compile(r"\d+")

# Left parts that keep their hyphen when joined ("self-\nattention" -> "self-attention").
_KEEP_HYPHEN_PREFIXES = frozenset({
    "self", "non", "multi", "semi", "cross", "co", "pre", "post", "re-", "anti", "sub", "inter",
    "intra", "state", "end", "long", "short", "high", "low", "large", "small", "fine", "coarse",
    "two", "three", "one", "single", "zero", "few", "top", "bottom", "real", "open", "well", "so",
    "over", "under", "mid", "ground", "data", "task", "class", "pixel", "image", "point", "object",
    "weakly", "fully", "un", "meta", "hand", "closed", "first", "second", "third", "higher", "lower",
})
# "object-\nor category-level": a suspended hyphen, not a split word.
_SUSPENDED = frozenset({"and", "or", "to", "vs"})
# Every pattern run over a whole line starts a letter run only at its beginning ((?<![A-Za-z])): tried
# from every letter of a run, `[A-Za-z]+` re-reads the rest of the run each time, and one 240,000-letter
# line (a PDF of `(Aa) Tj` repeated) took minutes.
_HYPHEN_END = re.compile(r"(?<![A-Za-z])([A-Za-z]+)-$")
_HYPHENATED = re.compile(r"(?<![A-Za-z])[A-Za-z]+-[A-Za-z]+")
_UNMAPPED_WORD = re.compile(r"(?<![A-Za-z])[A-Za-z]*\ufffd[A-Za-z\ufffd]*")
_NEXT_WORD = re.compile(r"^([a-z][A-Za-z]*(?:-[A-Za-z]+)*)(\S*)(\s+|$)")
_WORD = re.compile(r"[A-Za-z]+")


@dataclass
class CleanPages:
    """Cleaned pages (lists of non-empty lines) and counts of what was removed, by reason."""

    pages: list[list[str]]
    removed: dict[str, int] = field(default_factory=dict)

    def count(self, reason: str, n: int = 1) -> None:
        """Add ``n`` to the removal count of ``reason``."""
        if n:
            self.removed[reason] = self.removed.get(reason, 0) + n


def normalize_chars(text: str) -> str:
    """NFKC (ligatures, full-width forms), composed accents, no invisible, bidirectional or control characters.

    ``\\x01``-style control characters (C0 but tab and newline, DEL, C1) stand for glyphs pypdf could not
    map (often a ligature in a figure's font); they become U+FFFD here so `repair_glyphs` can guess them
    from the vocabulary. So no escape character of the page text reaches a terminal or a file.
    """
    text = _ACCENT_LETTER.sub(lambda m: m.group(2) + _SPACING_ACCENTS[m.group(1)], text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub("\ufffd", text)
    text = unicodedata.normalize("NFKC", text)
    return text


def strip_controls(text: str) -> str:
    """``text`` without terminal escape sequences (removed whole), control characters (C0 but tab and
    newline, DEL, C1), or zero-width and bidirectional controls.

    For the strings a PDF states about itself (/Title, /Author), which reach the terminal and the YAML
    files: there an escape character is an attack, not an unmapped glyph.
    """
    text = _ESCAPE_SEQUENCE.sub("", text)
    text = _CONTROL.sub("", text)
    return _INVISIBLE.sub("", text)


def metadata_text(value: str | None) -> str | None:
    """A PDF metadata string made safe to print and store: `strip_controls`, whitespace collapsed,
    None when nothing is left."""
    if not value:
        return None
    return " ".join(strip_controls(value).split()) or None


def split_lines(page: str) -> list[str]:
    """Non-empty lines of a page, with runs of spaces collapsed and ends stripped."""
    lines = (_SPACES.sub(" ", line).strip() for line in page.splitlines())
    return [line for line in lines if line]


def is_side_stamp(line: str) -> bool:
    """True for the arXiv side stamp, however pypdf spaced it."""
    return bool(_STAMP_LINE.match("".join(line.split())))


def remove_side_stamps(lines: list[str]) -> tuple[list[str], int]:
    """Drop the arXiv stamp, whether on one line or rendered one character per line (in either order)."""
    kept: list[str] = []
    removed = 0
    i = 0
    while i < len(lines):
        if is_side_stamp(lines[i]):
            removed += 1
            i += 1
            continue
        j = i
        while j < len(lines) and len(lines[j]) <= 2:
            j += 1
        if j - i >= 20:
            joined = "".join("".join(lines[i:j]).split())
            for text in (joined, joined[::-1]):
                match = re.search(_STAMP.pattern, text, re.IGNORECASE)
                if match and len(match.group(0)) >= len(text) - 4:
                    removed += 1
                    i = j
                    break
            else:
                kept.extend(lines[i:j])
                i = j
            continue
        kept.append(lines[i])
        i += 1
    return kept, removed


def _signature(line: str) -> str:
    """A line with digits masked and case folded, so 'Page 3' and 'Page 4' compare equal."""
    return _DIGITS.sub("#", line.casefold())


def remove_repeated_edges(pages: list[list[str]], *, edge: int = 3,
                          min_share: float = 0.4) -> tuple[list[list[str]], int]:
    """Drop running headers and footers: lines within ``edge`` lines of a page's top or bottom whose
    digit-masked text recurs at an edge of at least ``min_share`` of the pages (and 3 pages)."""
    if len(pages) < 3:
        return pages, 0
    seen: Counter[str] = Counter()
    for lines in pages:
        seen.update({_signature(line) for line in _edges(lines, edge)})
    threshold = max(3, int(min_share * len(pages) + 0.999))
    repeated = {sig for sig, n in seen.items() if n >= threshold and not _is_trivial(sig)}
    out: list[list[str]] = []
    removed = 0
    for lines in pages:
        n = len(lines)
        keep = []
        for k, line in enumerate(lines):
            at_edge = k < edge or k >= n - edge
            if at_edge and _signature(line) in repeated:
                removed += 1
            else:
                keep.append(line)
        out.append(keep)
    return out, removed


def _edges(lines: list[str], edge: int) -> Iterable[str]:
    return lines[:edge] + lines[max(edge, len(lines) - edge):]


def _is_trivial(signature: str) -> bool:
    # Bare numbers are handled by remove_page_numbers; very short masks ("#", "(#)") recur by chance.
    return len(signature.replace("#", "").strip(" .()[]-")) < 3


def remove_footers(lines: list[str]) -> tuple[list[str], int]:
    """Drop licence/download footers and CVF watermarks that name themselves, even on one page."""
    kept = [line for line in lines if not any(p.match(line) for p in _FOOTER_PATTERNS)]
    return kept, len(lines) - len(kept)


def remove_venue_notes(lines: list[str]) -> tuple[list[str], int]:
    """Drop conference notes and copyright lines ('36th Conference on Neural Information Processing
    Systems (NeurIPS 2022).', '1063-6919/17 $31.00 © 2017 IEEE', 'DOI 10.1109/...')."""
    kept = [line for line in lines if not any(p.match(line) for p in _VENUE_PATTERNS)]
    return kept, len(lines) - len(kept)


def remove_page_numbers(lines: list[str], *, edge: int = 2) -> tuple[list[str], int]:
    """Drop bare page numbers ('7', 'Page 7', '7 / 12') among the first or last ``edge`` lines."""
    n = len(lines)
    kept = [line for k, line in enumerate(lines)
            if not ((k < edge or k >= n - edge) and _PAGE_NUMBER.match(line))]
    return kept, n - len(kept)


def vocabulary(lines: Iterable[str]) -> Counter[str]:
    """Lower-cased word counts, used to decide hyphen joins and glyph repairs."""
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(w.lower() for w in _WORD.findall(line))
    return counts


def repair_glyphs(line: str, vocab: Counter[str]) -> str:
    """Guess unmapped glyphs (U+FFFD) inside words from the document's own vocabulary.

    'Re\ufffdneNet' becomes 'RefineNet' when 'refinenet' occurs elsewhere; otherwise the glyph is dropped.
    """
    if "\ufffd" not in line:
        return line

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        for guess in ("fi", "fl", "ff", "ffi", "ffl"):
            candidate = word.replace("\ufffd", guess)
            if vocab.get(candidate.lower(), 0) > 0:
                return candidate
        return word.replace("\ufffd", "")

    return _UNMAPPED_WORD.sub(fix, line)


def dehyphenate(lines: list[str], vocab: Counter[str]) -> tuple[list[str], int]:
    """Join words split by a hyphen at a line end, moving the second part up.

    The result has as many lines as the input (a line whose only word moved up becomes empty), so
    callers can keep per-line data such as page numbers aligned.

    'mech-' + 'anism in' -> 'mechanism' + 'in'. The hyphen is kept when the document writes the
    hyphenated form elsewhere ('self-attention'), or the left part is a common prefix and the joined
    word does not occur; joined otherwise (TeX's hyphenation is the common case).
    """
    out = list(lines)
    joined = 0
    for i in range(len(out) - 1):
        line = out[i]
        if not line.endswith("-") or line.endswith("--"):
            continue
        left = _HYPHEN_END.search(line)
        nxt = _NEXT_WORD.match(out[i + 1])
        if not left or not nxt:
            continue
        head, tail = left.group(1), nxt.group(1)
        if tail in _SUSPENDED:
            continue
        whole = (head + tail).lower()
        hyphenated = f"{head}-{tail}".lower()
        keep = (vocab.get(whole, 0) == 0
                and (head.lower() in _KEEP_HYPHEN_PREFIXES or vocab.get(hyphenated, 0) > 0))
        piece = nxt.group(1) + nxt.group(2)
        out[i] = (line if keep else line[:-1]) + piece
        out[i + 1] = out[i + 1][nxt.end():].lstrip()
        joined += 1
    return out, joined


def hyphenated_vocabulary(lines: Iterable[str]) -> Counter[str]:
    """Counts of in-line hyphenated words ('self-attention'), lower-cased, added to the vocabulary."""
    counts: Counter[str] = Counter()
    for line in lines:
        counts.update(m.lower() for m in _HYPHENATED.findall(line))
    return counts


def remove_figure_text(lines: list[str], *, max_len: int = 12, min_run: int = 4,
                       keep: Callable[[str], bool] | None = None) -> tuple[list[str], int]:
    """Drop runs of ``min_run`` or more very short lines: axis ticks and labels of figures.

    Lines for which ``keep`` is true (headings such as 'Abstract') end a run and are never dropped.
    """
    kept: list[str] = []
    removed = 0
    i = 0
    while i < len(lines):
        j = i
        while j < len(lines) and len(lines[j]) <= max_len and not (keep and keep(lines[j])):
            j += 1
        if j - i >= min_run:
            removed += j - i
            i = j
        elif j > i:
            kept.extend(lines[i:j])
            i = j
        else:
            kept.append(lines[i])
            i += 1
    return kept, removed


# A table cell: a number (with a sign, decimals, percent), a dash for "none", a citation, yes/no, a mark.
_CELL = re.compile(r"^(?:[-−–+]?\d+(?:[.,]\d+)*%?|[-−–]+|\[\d+(?:[,–-]\s*\d+)*\]|\(\d+(?:\.\d+)?\)|yes|no|"
                   r"[✓✗×✔✘]|n/?a)$", re.IGNORECASE)
# Words that make a line prose: table rows and headers almost never hold two of them.
_PROSE = frozenset({"the", "a", "an", "and", "of", "to", "in", "is", "are", "was", "were", "we", "our", "with",
                    "for", "on", "that", "by", "as", "it", "this", "which", "from", "be", "can", "where",
                    "when", "than"})
# A subfigure label printed under an image: "(b) Ground Truth".
_SUBFIGURE = re.compile(r"^\([a-z]\)\s+\S+(?:\s+\S+){0,2}$")


def is_table_row(line: str) -> bool:
    """True for a line that is a row of a table: mostly numbers, citations, dashes or yes/no, not prose."""
    tokens = line.split()
    if len(tokens) < 3:
        return False
    cells = sum(1 for t in tokens if _CELL.match(t.strip(",;")))
    prose = sum(1 for t in tokens if t.lower().strip(",;.") in _PROSE)
    return cells >= 2 and cells >= 0.5 * len(tokens) and prose < 2


def remove_tables(lines: list[str], *, keep: Callable[[str], bool] | None = None) -> tuple[list[str], int]:
    """Drop table rows and subfigure labels: numbers without their table are noise to a summarizer
    (and to the grounding of its numbers). Lines for which ``keep`` is true stay."""
    kept = [line for line in lines
            if (keep and keep(line)) or not (is_table_row(line) or (len(line) <= 30 and _SUBFIGURE.match(line)))]
    return kept, len(lines) - len(kept)


# A footnote's first line: its mark glued to a capitalised word, then prose ("1Due to resource ..."),
# or the first-page notes whatever their mark ("B Corresponding authors: ...", "∗This work was done").
_FOOTNOTE = re.compile(r"^(?:(?:[1-9]|[*∗†‡§¶])[A-Z][a-z]+(?:\s+[a-z][\w-]*){2}"
                       r"|\S{0,2}\s?(?:Corresponding authors?|Equal contribution|These authors contributed"
                       r"|This work was|Work done)\b)")
_SENTENCE_END = re.compile(r"[.!?][)\"'”’]?$")
# A line ending in one of these has not ended its sentence ("by 2.4 points (34.7 vs.").
_ABBREVIATION = re.compile(r"(?:\b(?:vs|e\.g|i\.e|al|Fig|Figs|Eq|Eqs|Sec|Tab|cf|resp|approx|No)|\b[A-Z])\.$")
_CAPTION = re.compile(r"^(?:Figure|Fig\.|FIG\.|Table|TABLE)\s*\d+[.:]")


def move_footnotes(lines: list[str], *, longest: int = 6) -> tuple[list[str], int]:
    """Move each footnote that interrupts a sentence to just after the end of that sentence.

    pypdf gives a column's footnotes before the next column's text, so a sentence (or a word:
    "Trans-" ... "former") running across the column break is cut by the footnote. A footnote is
    its first line plus the following lines up to the one ending a sentence (at most ``longest``);
    it is moved only when the line before it does not end a sentence.
    """
    return _move_blocks(lines, _FOOTNOTE, longest=longest, cut_before=True, resumes_after=False)


def move_captions(lines: list[str], *, longest: int = 6) -> tuple[list[str], int]:
    """Move each figure or table caption that sits inside a sentence to just after that sentence.

    A caption is its "Figure 3:" / "Table 2." line plus the following lines up to one ending a
    sentence (at most ``longest``) after which the text goes on in lower case: the interrupted
    sentence resuming ("... dataset. | all classes. As commonly done ..."). Without that sign the
    caption stays where it is.
    """
    return _move_blocks(lines, _CAPTION, longest=longest, cut_before=False, resumes_after=True)


def _ends_sentence(line: str) -> bool:
    return bool(_SENTENCE_END.search(line)) and not _ABBREVIATION.search(line)


def _move_blocks(lines: list[str], start: re.Pattern[str], *, longest: int, cut_before: bool,
                 resumes_after: bool) -> tuple[list[str], int]:
    out = list(lines)
    moved = 0
    i = 1
    while i < len(out):
        if not start.match(out[i]) or (cut_before and _ends_sentence(out[i - 1])):
            i += 1
            continue
        end = next((j for j in range(i, min(i + longest, len(out) - 1)) if _ends_sentence(out[j])
                    and (not resumes_after or out[j + 1][:1].islower())), None)
        if end is None:
            i += 1
            continue
        # After the interrupted sentence's end (or the page's end), where the block cuts nothing.
        resume = next((k - end for k in range(end + 1, len(out)) if _ends_sentence(out[k])), len(out) - end - 1)
        # Swapped in place: rebuilding the list for every block made a page of many blocks quadratic.
        out[i:end + 1 + resume] = out[end + 1:end + 1 + resume] + out[i:end + 1]
        moved += 1
        i += resume
    return out, moved


def clean_pages(raw_pages: list[str], *, keep: Callable[[str], bool] | None = None) -> CleanPages:
    """Apply every cleaning step to raw page texts; returns lines per page and what was removed.

    ``keep`` protects lines (headings) from the figure-text filter.
    """
    result = CleanPages(pages=[])
    pages: list[list[str]] = []
    for raw in raw_pages:
        lines = split_lines(normalize_chars(raw))
        lines, n = remove_side_stamps(lines)
        result.count("side_stamp", n)
        lines, n = remove_footers(lines)
        result.count("licence_footer", n)
        lines, n = remove_venue_notes(lines)
        result.count("venue_note", n)
        pages.append(lines)
    pages, n = remove_repeated_edges(pages)
    result.count("running_header_footer", n)
    cleaned: list[list[str]] = []
    for lines in pages:
        lines, n = remove_page_numbers(lines)
        result.count("page_number", n)
        lines, n = remove_figure_text(lines, keep=keep)
        result.count("figure_text", n)
        lines, n = remove_tables(lines, keep=keep)
        result.count("table_row", n)
        lines, n = move_footnotes(lines)
        result.count("footnote_moved", n)
        lines, n = move_captions(lines)
        result.count("caption_moved", n)
        cleaned.append(lines)
    vocab = vocabulary(line for lines in cleaned for line in lines)
    vocab.update(hyphenated_vocabulary(line for lines in cleaned for line in lines))
    result.pages = [[repair_glyphs(line, vocab) for line in lines] for lines in cleaned]
    return result


def reflow(lines: list[str]) -> str:
    """Join lines into paragraphs (one per output line).

    A line shorter than most full lines ends its paragraph; so table rows and equations stay on their
    own lines while running prose is joined with spaces.
    """
    if not lines:
        return ""
    widths = [len(line) for line in lines if len(line) >= 20]
    full = statistics.median(widths) if widths else max(map(len, lines))
    paragraphs: list[str] = []
    current: list[str] = []
    for line in lines:
        current.append(line)
        if len(line) < 0.75 * full:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return "\n".join(paragraphs)
