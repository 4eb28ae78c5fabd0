"""Each cell of a table named by its column, for the phone layout of the stylesheet."""

from __future__ import annotations

import html
import re

# A table's header and body; a table without a header is left as it is.
TABLE = re.compile(r"<table>(?P<head>(?:(?!</table>).)*?</thead>)(?P<body>.*?)</table>", re.S)
HEADER = re.compile(r"<th[^>]*>(.*?)</th>", re.S)
ROW = re.compile(r"<tr>.*?</tr>", re.S)
CELL = re.compile(r"<td(?=[\s>])")
TAG = re.compile(r"<[^>]+>")


def label_cells(page: str) -> str:
    """``page`` with every ``<td>`` of a table with a header given ``data-label``, its
    column's title as text."""

    def table(match: re.Match) -> str:
        titles = [
            html.escape(html.unescape(TAG.sub("", title)).strip(), quote=True)
            for title in HEADER.findall(match.group("head"))
        ]

        def row(found: re.Match) -> str:
            names = iter(titles)
            return CELL.sub(lambda _: f'<td data-label="{next(names, "")}"', found.group(0))

        return f"<table>{match.group('head')}{ROW.sub(row, match.group('body'))}</table>"

    return TABLE.sub(table, page)
