"""Every page links a term to the glossary the first time its prose uses it.

Run on a page's Markdown once its placeholders are rendered (docs/hooks.py), so a term
a renderer writes is linked too. Only prose is touched: code blocks, headings, tables,
links, HTML and admonition titles stay as they are. A code span that is exactly a term
(`Seq Scan`) is linked whole.
"""

from __future__ import annotations

import re

from renderers.common import link

GLOSSARY = "glossary.md"
# Each anchor of docs/glossary.md, and how the pages write its term.
TERMS = {
    "throughput": r"req/s",
    "percentiles": r"p(?:50|95|99)",
    "closed-and-open-models": r"(?:closed|open) model",
    "within-noise": r"within noise",
    "blend": r"blends?",
    "probe-pass": r"probe pass(?:es)?",
    "cache-hit": r"cache hits?",
    "cpu-per-request": r"CPU per request",
    "buffers": r"buffers",
    "seq-scan": r"Seq Scan|sequential scans?",
    "index-scan": r"Index (?:Only )?Scan(?: Backward)?",
    "walk": r"walk(?:s|ed|ing)?",
    "bitmap-heap-scan": r"Bitmap Heap Scan",
    "top-n-heapsort": r"top-N heapsort",
    "hash-join": r"Hash Joins?",
    "nested-loop": r"Nested Loop",
    "memoize": r"Memoize",
    "gather-merge": r"Gather Merge",
    "statistics-target": r"statistics targets?|extended statistics",
    "n-plus-one": r"N\+1",
    "keyset-pagination": r"keyset pagination",
    "load-balancer": r"load balancers?",
    "transaction-pooling": r"transaction pooling|transaction mode",
}
PATTERNS = {
    anchor: re.compile(rf"(?<![\w/#-])(?:{term})(?![\w-])") for anchor, term in TERMS.items()
}
# What prose may hold that is not prose: code spans, links and images, HTML tags,
# placeholders left for later, bare URLs.
UNTOUCHED = re.compile(
    r"(`+)(?P<code>.+?)\1|!?\[[^\]]*\]\([^)]*\)|<[^>]+>|\{\{.*?\}\}|https?://\S+"
)
FENCE = re.compile(r"^\s*(```|~~~)")
# Lines that are not running prose: headings, tables, admonition titles, includes.
NOT_PROSE = re.compile(r"^\s*(?:#|\||\?\?\?|!!!|--8<--|<|\{\{)")


def linked_text(text: str, todo: dict[str, str]) -> str:
    """Prose ``text`` with the first use of each term still in ``todo`` linked, the
    earliest first (each linked term leaves ``todo``)."""
    done = ""
    while todo:
        found = [(m, anchor) for anchor in todo if (m := PATTERNS[anchor].search(text))]
        if not found:
            break
        match, anchor = min(found, key=lambda pair: pair[0].start())
        target = todo.pop(anchor)
        done += f"{text[: match.start()]}[{match.group(0)}]({target})"
        text = text[match.end() :]
    return done + text


def linked_line(line: str, todo: dict[str, str]) -> str:
    """``line`` with the first use of each term still in ``todo`` linked (and dropped
    from it); code spans, links, tags and placeholders are left alone, but a code span
    that is exactly a term is linked whole."""
    out, start = [], 0
    for match in UNTOUCHED.finditer(line):
        out.append(linked_text(line[start : match.start()], todo))
        kept, code = match.group(0), match.group("code")
        anchor = next((a for a in todo if code and PATTERNS[a].fullmatch(code)), None)
        out.append(f"[{kept}]({todo.pop(anchor)})" if anchor else kept)
        start = match.end()
    out.append(linked_text(line[start:], todo))
    return "".join(out)


def link_first_uses(markdown: str, src_uri: str) -> str:
    if src_uri == GLOSSARY:
        return markdown
    target = link(src_uri, GLOSSARY)
    todo = {anchor: f"{target}#{anchor}" for anchor in TERMS}
    lines, fenced = [], None
    for line in markdown.split("\n"):
        fence = FENCE.match(line)
        if fenced is not None:
            if fence and fence.group(1) == fenced:
                fenced = None
            lines.append(line)
            continue
        if fence:
            fenced = fence.group(1)
            lines.append(line)
            continue
        lines.append(line if NOT_PROSE.match(line) or not todo else linked_line(line, todo))
    return "\n".join(lines)
