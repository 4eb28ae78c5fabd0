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
    "percentiles": r"p(?:50|95|99)",
    "closed-and-open-models": r"(?:closed|open) model",
    "within-noise": r"within noise",
    "buffers": r"buffers",
    "seq-scan": r"Seq Scan|sequential scans?",
    "index-scan": r"Index (?:Only )?Scan(?: Backward)?",
    "bitmap-heap-scan": r"Bitmap Heap Scan",
    "top-n-heapsort": r"top-N heapsort",
    "nested-loop": r"Nested Loop",
    "memoize": r"Memoize",
    "gather-merge": r"Gather Merge",
    "n-plus-one": r"N\+1",
    "keyset-pagination": r"keyset pagination",
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


def linked_line(line: str, todo: dict[str, str]) -> str:
    """``line`` with the first use of each term still in ``todo`` linked (and dropped
    from it)."""
    pieces, start = [], 0
    for match in UNTOUCHED.finditer(line):
        pieces.append((line[start : match.start()], False))
        pieces.append((match.group(0), True))
        start = match.end()
    pieces.append((line[start:], False))
    out = []
    for text, kept in pieces:
        for anchor in list(todo):
            pattern = PATTERNS[anchor]
            if kept:
                code = UNTOUCHED.fullmatch(text)
                if code and code.group("code") and pattern.fullmatch(code.group("code")):
                    text = f"[{text}]({todo.pop(anchor)})"
                    break
                continue
            found = pattern.search(text)
            if found:
                target = todo.pop(anchor)
                text = f"{text[: found.start()]}[{found.group(0)}]({target}){text[found.end() :]}"
                # The rest of this piece now holds a link: leave it to the next line.
                break
        out.append(text)
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
