"""Daily shapes (load, temperature, clear-sky PV) read from the CSV files shipped in hil/loads.

A shape is a ``time,value`` table over one day (``HH:MM`` rows, any spacing). It is
resampled once into a per-minute table so that a physics step reads it with one index
and one linear interpolation — no search, no allocation.
"""

from __future__ import annotations

import csv
from pathlib import Path

LOADS_DIR = Path(__file__).resolve().parent.parent / "loads"
_MINUTES = 1440


class ShapeError(ValueError):
    """A shape file is missing or malformed (the message names the file and line)."""


class DailyShape:
    """A value that repeats every day, linearly interpolated between the given times."""

    def __init__(self, points: list[tuple[float, float]], name: str = "shape") -> None:
        if not points:
            raise ShapeError(f"{name}: no data rows")
        points = sorted(points)
        self.name = name
        times = [t for t, _ in points] + [points[0][0] + 86400.0]
        values = [v for _, v in points] + [points[0][1]]
        table = []
        index = 0
        for minute in range(_MINUTES + 1):
            second = float(minute * 60)
            if second < times[0]:
                second += 86400.0
            while index + 1 < len(times) - 1 and times[index + 1] <= second:
                index += 1
            t0, t1 = times[index], times[index + 1]
            frac = 0.0 if t1 == t0 else (second - t0) / (t1 - t0)
            frac = min(max(frac, 0.0), 1.0)
            table.append(values[index] + (values[index + 1] - values[index]) * frac)
        self._table = table
        self.minimum = min(values)
        self.maximum = max(values)

    def at(self, second_of_day: float) -> float:
        """The value at a second of the (local) day, 0 <= second_of_day < 86400."""
        position = second_of_day / 60.0
        index = int(position)
        lo = self._table[index]
        return lo + (self._table[index + 1] - lo) * (position - index)

    @classmethod
    def load(cls, path: Path) -> DailyShape:
        """Read a ``time,value`` CSV; ``#`` lines are comments, the first row a header."""
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise ShapeError(f"{path}: cannot read load shape: {err}") from err
        points: list[tuple[float, float]] = []
        rows = csv.reader(text.splitlines())
        header_seen = False
        for line_number, row in enumerate(rows, start=1):
            if not row or row[0].startswith("#"):
                continue
            if not header_seen:
                header_seen = True
                continue
            if len(row) != 2:
                raise ShapeError(f"{path}:{line_number}: expected 'HH:MM,value', got {row}")
            try:
                hours, minutes = row[0].strip().split(":")
                second = int(hours) * 3600 + int(minutes) * 60
                value = float(row[1])
            except ValueError:
                raise ShapeError(
                    f"{path}:{line_number}: expected 'HH:MM,value', got {','.join(row)}"
                ) from None
            if not 0 <= second < 86400:
                raise ShapeError(f"{path}:{line_number}: time {row[0]} is not within one day")
            points.append((float(second), value))
        return cls(points, name=path.stem)


def shipped(name: str) -> DailyShape:
    """A shape shipped in hil/loads, by file stem (``base_plug_kw``)."""
    return DailyShape.load(LOADS_DIR / f"{name}.csv")
