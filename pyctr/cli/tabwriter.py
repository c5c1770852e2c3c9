"""Go's ``text/tabwriter`` as the docker CLI configures it, so tables line up as Docker's do.

The docker CLI writes every table through ``tabwriter.NewWriter(out, 10, 1, 3,
' ', 0)``: a cell is text ended by a tab, a column is as wide as its widest
cell plus 3 spaces and at least 10, and the text after a line's last tab is
not a cell (never padded). Columns are computed per *block*: consecutive
lines that all have a cell in that column (Go's algorithm, which matters
when a template's rows have different numbers of tabs). Trailing padding is
kept, exactly as Docker prints it.
"""

from __future__ import annotations

MIN_WIDTH = 10
PADDING = 3


def _width(text: str) -> int:
    # tabwriter counts runes (UTF-8 code points), not display columns; so does len()
    return len(text)


def format_lines(text_lines: list[str], min_width: int = MIN_WIDTH, padding: int = PADDING) -> list[str]:
    """Lay out lines whose cells are separated by tabs; returns the lines, without newlines."""
    lines = [line.split("\t") for line in text_lines]
    out: list[str] = [""] * len(lines)
    widths: list[int] = []

    def write(lo: int, hi: int) -> None:
        for i in range(lo, hi):
            cells = lines[i]
            parts = []
            for j, cell in enumerate(cells):
                if j < len(widths) and j < len(cells) - 1:
                    parts.append(cell + " " * max(0, widths[j] - _width(cell)))
                else:
                    parts.append(cell)
            out[i] = "".join(parts)

    # Go's recursion: its depth is the number of columns
    def fmt(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(lines[this]) - 1:
                this += 1
                continue
            # lines[this] has a cell in this column: a block starts here
            write(line0, this)
            line0 = this
            width = min_width
            while this < line1 and column < len(lines[this]) - 1:
                width = max(width, _width(lines[this][column]) + padding)
                this += 1
            widths.append(width)
            fmt(line0, this)
            widths.pop()
            line0 = this
        write(line0, line1)

    fmt(0, len(lines))
    return out
