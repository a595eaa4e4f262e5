"""Fitting lines of text to the terminal's width, without ever wrapping one.

Two shapes: a header made of facts (:class:`Fact`) that wrap whole, like words,
with long paths shortened in their middle; and a table (:func:`grid_lines`)
drawn one line per row, whose columns go by rank when the screen is narrow.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from rich.text import Text

from pcapng_iou.ui.formatting import one_line


@dataclass(frozen=True)
class Fact:
    """One fact of the header: never split across lines; ``keep`` ranks it (None: always shown)."""

    parts: Tuple[Tuple[str, str], ...]
    keep: Optional[int] = None
    #: Index of the part (a path) that may be shortened in its middle when the item is wider than the screen.
    shorten: Optional[int] = None

    @property
    def width(self) -> int:
        return sum(len(text) for text, _ in self.parts)

    def fitted(self, width: int) -> "Fact":
        excess = self.width - width
        if excess <= 0 or self.shorten is None:
            return self
        text, style = self.parts[self.shorten]
        keep = max(3, len(text) - excess - 1)
        head = keep // 3
        short = text[:head] + "…" + text[len(text) - (keep - head):]
        parts = self.parts[: self.shorten] + ((short, style),) + self.parts[self.shorten + 1:]
        return Fact(parts, self.keep, None)


FACT_GAP = "   "


def flow_facts(groups: List[List[Fact]], width: int, together: bool) -> List[List[Fact]]:
    """Items laid out in lines of at most ``width``, as words are: a group starts a line unless ``together``."""
    lines: List[List[Fact]] = []
    used = width + 1  # forces a new line for the first item
    for group in groups:
        if not together:
            used = width + 1
        for item in group:
            size = item.width
            if lines and used + len(FACT_GAP) + size <= width:
                lines[-1].append(item)
                used += len(FACT_GAP) + size
            else:
                lines.append([item])
                used = size
    return lines


def joined_facts(items: List[Fact]) -> Text:
    """One line of whole items, separated by a gap."""
    parts: List[Tuple[str, str]] = []
    for position, item in enumerate(items):
        if position:
            parts.append((FACT_GAP, ""))
        parts.extend(item.parts)
    return one_line(*parts)

@dataclass(frozen=True)
class Column:
    title: str
    justify: str = "right"
    style: str = ""
    #: When the screen is too narrow, columns go by this rank, 1 first (equal ranks go together);
    #: None: never (the link and its type tell two rows of one link apart after a reload).
    drop: Optional[int] = None
    #: The column may be cut with an ellipsis, down to this width, when dropping was not enough.
    shrink_to: Optional[int] = None
    #: Shown only once the columns of this drop rank are gone, in their stead (a total for two counts).
    instead_of: Optional[int] = None


_COLUMN_GAP = "  "


def _cell_width(cell) -> int:
    return len(cell) if isinstance(cell, str) else cell.cell_len


def _fit(cell: str, width: int, justify: str) -> str:
    if len(cell) > width:
        return cell[: max(0, width - 1)] + "…" if width else ""
    return cell.rjust(width) if justify == "right" else cell.ljust(width)


def _layout(columns: Sequence[Column], rows: List[list], width: int) -> Tuple[List[int], List[int]]:
    """Which columns fit ``width`` (dropped by rank), and the width of each."""
    widths = [len(column.title) for column in columns]
    for row in rows:
        for index, cell in enumerate(row):
            size = _cell_width(cell)
            if size > widths[index]:
                widths[index] = size
    keep = [index for index, column in enumerate(columns) if column.instead_of is None]

    def needed() -> int:
        return sum(widths[index] for index in keep) + len(_COLUMN_GAP) * (len(keep) - 1)

    for rank in sorted({column.drop for column in columns if column.drop is not None}):
        if needed() <= width:
            break
        stand_ins = [index for index, column in enumerate(columns) if column.instead_of == rank]
        keep = sorted([index for index in keep if columns[index].drop != rank] + stand_ins)
    for index in keep:
        floor = columns[index].shrink_to
        excess = needed() - width
        if floor is not None and excess > 0 and widths[index] > floor:
            widths[index] = max(floor, widths[index] - excess)
    return keep, widths


def grid_lines(columns: Sequence[Column], rows: List[list], width: int, footer: Optional[list] = None) -> List[Text]:
    """A table as one Text per line: column titles, a rule, the rows (and a rule and ``footer``).

    Drawn by hand rather than with ``rich.table.Table``, whose layout costs
    about twenty times more per redraw and which wraps cells onto several
    lines: here a row is always one line.
    """
    keep, widths = _layout(columns, rows + ([footer] if footer else []), width)
    last = keep[-1]
    total_width = min(width, sum(widths[index] for index in keep) + len(_COLUMN_GAP) * (len(keep) - 1))

    def line_of(cells: list, bold: bool = False) -> Text:
        line = one_line()
        for position, index in enumerate(keep):
            column = columns[index]
            if position:
                line.append(_COLUMN_GAP)
            cell = cells[index]
            if isinstance(cell, str):
                style = "bold" if bold else (column.style or None)
                line.append(cell if index == last and _cell_width(cell) <= widths[index]
                            else _fit(cell, widths[index], column.justify), style)
            else:
                if cell.cell_len > widths[index]:
                    cell = cell.copy()
                    cell.truncate(widths[index], overflow="ellipsis")
                elif index != last:
                    cell = cell.copy()
                    if column.justify == "right":
                        cell.pad_left(widths[index] - cell.cell_len)
                    else:
                        cell.pad_right(widths[index] - cell.cell_len)
                line.append_text(cell)
        return line

    titles = line_of([column.title for column in columns], bold=True)
    rule = one_line(("─" * total_width, "dim"))
    lines = [titles, rule] + [line_of(row) for row in rows]
    if footer:
        lines += [rule, line_of(footer, bold=True)]
    return lines
