"""One table, two renderings: Markdown for the site (docs/renderers/) and fixed-width text
for the terminal (bench/report.py). Columns say their title and alignment once."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    title: str
    # "<" left, ">" right: numbers line up on the right in both renderings.
    align: str = "<"
    # The terminal's width; Markdown needs none.
    width: int = 0


def markdown(columns: list[Column], rows: list[list[str]]) -> str:
    rule = {"<": "---", ">": "--:"}
    lines = [
        "| " + " | ".join(column.title for column in columns) + " |",
        "|" + "|".join(rule[column.align] for column in columns) + "|",
    ]
    lines += ["| " + " | ".join(cells) + " |" for cells in rows]
    return "\n".join(lines)


def text_line(columns: list[Column], cells: list[str]) -> str:
    return " ".join(
        cell.rjust(column.width) if column.align == ">" else cell.ljust(column.width)
        for column, cell in zip(columns, cells, strict=True)
    )


def text_header(columns: list[Column]) -> list[str]:
    header = text_line(columns, [column.title for column in columns])
    return [header, "-" * len(header)]
