"""Bibliographic fields from metadata: venue, date, code link. Pure functions, no LLM involved."""

from __future__ import annotations

import re

from pipeline.core.links import link_problem
from pipeline.core.models import Bibliography, PaperMetadata

# Abbreviation -> patterns that name the venue in a comment or journal reference.
VENUES: tuple[tuple[str, str], ...] = (
    ("CVPR", r"\bCVPR\b|Computer Vision and Pattern Recognition"),
    ("ICCV", r"\bICCV\b|International Conference on Computer Vision"),
    ("ECCV", r"\bECCV\b|European Conference on Computer Vision"),
    ("NeurIPS", r"\bNeurIPS\b|\bNIPS\b|Neural Information Processing Systems"),
    ("ICLR", r"\bICLR\b|International Conference on Learning Representations"),
    ("ICML", r"\bICML\b|International Conference on Machine Learning"),
    ("AAAI", r"\bAAAI\b"),
    ("IJCAI", r"\bIJCAI\b"),
    ("MICCAI", r"\bMICCAI\b|Medical Image Computing and Computer.Assisted Intervention"),
    ("MIDL", r"\bMIDL\b|Medical Imaging with Deep Learning"),
    ("ISBI", r"\bISBI\b"),
    ("WACV", r"\bWACV\b"),
    ("BMVC", r"\bBMVC\b"),
    ("ACMMM", r"\bACM\s*MM\b|ACM Multimedia"),
    ("TPAMI", r"\bT-?PAMI\b|Pattern Analysis and Machine Intelligence"),
    ("TMI", r"\bT-?MI\b|Transactions on Medical Imaging"),
    ("MedIA", r"\bMedIA\b|Medical Image Analysis"),
    ("JBHI", r"\bJBHI\b|Journal of Biomedical and Health Informatics"),
    ("TIP", r"\bTIP\b|Transactions on Image Processing"),
    ("PR", r"\bPattern Recognition\b(?! Letters)"),
    ("NN", r"\bNeural Networks\b"),
    ("PRL", r"\bPattern Recognition Letters\b"),
    ("PRB", r"\bPhys(?:ical)?\.? Rev(?:iew)?\.? B\b"),
    ("PRL-Phys", r"\bPhys(?:ical)?\.? Rev(?:iew)?\.? Lett"),
)
_YEAR = re.compile(r"(?<!\d)(19[89]\d|20\d\d)(?!\d)|'(\d\d)\b")
_URL = re.compile(r"https?://[^\s<>\"'()\[\]{}]+", re.IGNORECASE)
_CODE_HOSTS = ("github.com", "gitlab.com", "huggingface.co", "bitbucket.org", "github.io", "gitee.com")
_CODE_WORDS = re.compile(r"\b(code|implementation|source|repository|released|available)\b", re.IGNORECASE)
_SCHEME = re.compile(r"https?://")
_SPACE = re.compile(r"\s")
_NON_SPACE = re.compile(r"\S")
_BREAK_AFTER = frozenset("/-_=?&#~%:+@")
_BREAK_BEFORE = frozenset("/.-_?#=&")
# A footnote mark glued on after a sentence's full stop: '.../DivideMix.1'.
_FOOTNOTE_AFTER = re.compile(r"(?<=[^\W\d_])\.\d{1,2}$")


def parse_venue(journal_ref: str | None, comment: str | None, fallback_year: int | None) -> str:
    """The venue as ``ABBRYEAR`` (``CVPR2025``) from journal_ref or comment, else ``arXiv``."""
    for text in (journal_ref, comment):
        if not text:
            continue
        for abbr, pattern in VENUES:
            match = re.search(pattern, text, re.IGNORECASE if len(abbr) > 4 else 0)
            if not match:
                continue
            year = _year_near(text, match.end()) or fallback_year
            return f"{abbr}{year}" if year else abbr
    return "arXiv"


def _year_near(text: str, position: int) -> int | None:
    after = _YEAR.search(text, position)
    candidates = [after] if after else []
    candidates += list(_YEAR.finditer(text, 0, position))
    for match in candidates:
        if match.group(1):
            return int(match.group(1))
        if match.group(2):
            return 2000 + int(match.group(2))
    return None


def find_code_url(*texts: str | None) -> str | None:
    """The first code link in the texts, in the order given (abstract, comment, paper text).

    Only URLs that actually appear in the text count: a code host (GitHub, GitLab, Hugging Face,
    Bitbucket, project pages on github.io), or another page whose sentence says it holds code.
    """
    for text in texts:
        if not text:
            continue
        joined = _join_broken_urls(text)
        for match in _URL.finditer(joined):
            url = _FOOTNOTE_AFTER.sub("", match.group(0)).rstrip(".,;:")
            host = url.split("/")[2].lower() if url.count("/") >= 2 else ""
            if any(host == h or host.endswith("." + h) for h in _CODE_HOSTS):
                if "github.com" in host and url.rstrip("/").count("/") < 3:
                    continue  # bare github.com is not a repository
                return url
            sentence = joined[max(0, match.start() - 120): match.start()]
            if _CODE_WORDS.search(sentence.split(".")[-1]):
                return url
    return None


def _join_broken_urls(text: str) -> str:
    """``text`` with each URL that a line end broke glued to the next non-blank line:
    'https://github.com/a/' + newline + 'Repo' -> 'https://github.com/a/Repo'.

    A URL is broken only where a URL can break: its line ends in a separator (``/ - _ = ? & # ~ % : +
    @``; a dot only when the next word holds a dot, colon or slash too, as 'host.' + 'robots.ox.ac.uk')
    or the next line starts with one (``/ . - _ ? # = &``). Otherwise it ended at the line end,
    and the next line's word ('mixmatch' + newline + 'Sharpen') or heading ('refinenet' + newline +
    '1.1. Related Work') stays apart. A hyphen at the line end is kept: TeX puts none into a URL.

    Plain scanning, one pass: a regex retried from every 'http://' re-read the URL's whole line each
    time, and a PDF holding 'http://' 20,000 times took 50 s.
    """
    parts: list[str] = []
    copied = position = 0
    while match := _SCHEME.search(text, position):
        space = _SPACE.search(text, match.end())
        run_end = space.start() if space else len(text)
        word = _NON_SPACE.search(text, run_end)
        gap_end = word.start() if word else len(text)
        if word and "\n" in text[run_end:gap_end] and _broken(text, run_end, gap_end):
            parts.append(text[copied:run_end])
            copied = gap_end
        position = gap_end  # every other 'http://' of this run ends at the same place
    return "".join(parts) + text[copied:]


def _broken(text: str, run_end: int, word: int) -> bool:
    """Whether the URL ending at ``run_end`` goes on at ``word`` on the next line."""
    last = text[run_end - 1]
    if last == ".":  # usually a full stop; a host or file name goes on with a dot or a slash
        space = _SPACE.search(text, word)
        return any(c in "/.:" for c in text[word:space.start() if space else len(text)].rstrip(".,;:)"))
    return last in _BREAK_AFTER or text[word] in _BREAK_BEFORE


def _venue(meta: PaperMetadata, year: int | None) -> str:
    venue = parse_venue(meta.journal_ref, meta.comment, year)
    return "preprint" if venue == "arXiv" and not meta.arxiv_id else venue


def bibliography(meta: PaperMetadata, code_url: str | None) -> Bibliography:
    """Bibliographic fields of a summary, all from metadata."""
    first = meta.published or meta.updated
    return Bibliography(
        arxiv_id=meta.arxiv_id, version=meta.version, title=meta.title, authors=list(meta.authors),
        first_author=meta.first_author, last_author=meta.last_author,
        date=f"{first.year:04d}-{first.month:02d}" if first else None,
        venue=_venue(meta, first.year if first else None),
        code_url=code_url if code_url and link_problem(code_url) is None else None,
        pdf_url=meta.pdf_url, abs_url=meta.abs_url, doi=meta.doi,
    )
