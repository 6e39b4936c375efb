"""What the model writes -> what the user expects.

The schema lets the model write a number as text and a date in any form, so it may answer
"1.234,56 €" or "14 March 2026"; these read values as people write them (1234.56,
"2026-03-14"). A placeholder ("n/a", "unknown") means null, never a value.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
import re
from typing import Any

# Strings a model writes when a document lacks a value; they mean null.
PLACEHOLDERS = {
    "", "null", "none", "n/a", "na", "-", "--", "—", "?", "unknown", "not found",
    "not available", "not specified", "not provided", "not stated", "not applicable",
}  # fmt: skip


def _blank(value: Any) -> bool:
    return value is None or (
        isinstance(value, str) and " ".join(value.split()).casefold() in PLACEHOLDERS
    )


def to_text(value: Any) -> str | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return format_number(value)
    if isinstance(value, str):
        return " ".join(value.split())
    raise ValueError("expected text")


def format_number(value: float) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


_NUMBER = re.compile(r"\d(?:[\d.,'’\u00a0\u202f ]*\d)?")
_MINUS = re.compile(r"(?:^|[^\w])[-−–]\s*$")


def parse_number(text: str) -> float | None:
    """Read a number as people write it: "1.234,56 €", "$1,234.56", "1 234,5", "(12.00)".

    With both '.' and ',' the last one is the decimal mark. With one of them: it is a
    thousands separator when it repeats, or (for ',') when exactly three digits follow;
    otherwise a decimal mark. Text without digits is no number (None)."""
    match = _NUMBER.search(text)
    if match is None:
        return None
    digits = re.sub(r"[\s'’\u00a0\u202f]", "", match.group())
    dots, commas = digits.count("."), digits.count(",")
    if dots and commas:
        decimal = "." if digits.rfind(".") > digits.rfind(",") else ","
        thousands = "," if decimal == "." else "."
        if digits.count(decimal) > 1:
            raise ValueError(f"cannot read {text!r} as a number")
        digits = digits.replace(thousands, "").replace(decimal, ".")
    elif commas:
        head, _, tail = digits.rpartition(",")
        if commas > 1 or (len(tail) == 3 and head.lstrip("0")):
            digits = digits.replace(",", "")
        else:
            digits = digits.replace(",", ".")
    elif dots > 1:
        digits = digits.replace(".", "")
    negative = bool(_MINUS.search(text[: match.start()])) or (
        text.strip().startswith("(") and text.strip().endswith(")")
    )
    number = float(digits)
    return -number if negative else number


def to_number(value: Any) -> float | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        raise ValueError("expected a number, not true/false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        number = parse_number(value)
        if number is None:
            return None
    else:
        raise ValueError("expected a number")
    if not math.isfinite(number):
        raise ValueError("expected a finite number")
    return number


def to_integer(value: Any) -> int | None:
    number = to_number(value)
    if number is None:
        return None
    if not number.is_integer():
        raise ValueError(f"{value!r} is not a whole number")
    return int(number)


_TRUE = {"true", "yes", "y", "1", "on", "x", "checked"}
_FALSE = {"false", "no", "n", "0", "off", "unchecked"}


def to_boolean(value: Any) -> bool | None:
    if _blank(value):
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().casefold()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ValueError(f"cannot read {value!r} as true or false")


_MONTHS = {name.casefold(): i for i, name in enumerate(calendar.month_name) if name}
_MONTHS |= {name.casefold(): i for i, name in enumerate(calendar.month_abbr) if name}
_MONTHS["sept"] = 9
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ].*)?$")
_YMD = re.compile(r"^(\d{4})[/.](\d{1,2})[/.](\d{1,2})$")
_NUMERIC = re.compile(r"^(\d{1,2})([./-])(\d{1,2})\2(\d{2}|\d{4})$")
_DAY_MONTH = re.compile(rf"^(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+({_MONTH})\.?,?\s+(\d{{4}})$", re.I)
_MONTH_DAY = re.compile(rf"^({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})$", re.I)


def _year(text: str) -> int:
    year = int(text)
    if len(text) == 2:
        year += 2000 if year < 70 else 1900
    return year


def parse_date(text: str) -> dt.date:
    """ISO 8601 first; then "14 March 2026", "March 14, 2026", "2026/03/14", and numeric
    day-first dates ("14.03.2026", "14/03/2026"), read month-first only when the day-first
    reading is impossible ("03/14/2026")."""
    text = " ".join(text.split()).strip(" ,")
    try:
        if m := _ISO.match(text) or _YMD.match(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if m := _NUMERIC.match(text):
            first, second, year = int(m[1]), int(m[3]), _year(m[4])
            if second > 12 and first <= 12:
                return dt.date(year, first, second)
            return dt.date(year, second, first)
        if m := _DAY_MONTH.match(text):
            return dt.date(int(m[3]), _MONTHS[m[2].casefold()], int(m[1]))
        if m := _MONTH_DAY.match(text):
            return dt.date(int(m[3]), _MONTHS[m[1].casefold()], int(m[2]))
    except ValueError:
        pass
    raise ValueError(f"cannot read {text!r} as a date")


def to_date(value: Any) -> dt.date | None:
    if _blank(value):
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        return parse_date(value)
    raise ValueError("expected a date")


def to_choice(values: list[str]) -> Any:
    canonical = {" ".join(v.split()).casefold(): v for v in values}

    def choose(value: Any) -> str | None:
        if _blank(value):
            return None
        if isinstance(value, str):
            found = canonical.get(" ".join(value.split()).casefold())
            if found is not None:
                return found
        raise ValueError(f"{value!r} is not one of: {', '.join(values)}")

    return choose


def to_list(value: Any) -> list[Any] | None:
    if _blank(value):
        return None
    if not isinstance(value, list):
        value = [value]
    return [item for item in value if not _blank(item)]


def to_object(value: Any) -> Any:
    return None if _blank(value) else value
