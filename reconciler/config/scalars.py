"""YAML 1.1 numbers as PyYAML reads them: ``0x1F``, ``0o17``, ``1_000``, ``1:30`` (base 60).

The loader builds values itself (to keep every value's place), so it must read
the integer and float forms YAML 1.1 allows exactly as PyYAML's constructor does.
"""

from __future__ import annotations

import math


def yaml11_int(text: str) -> int:
    """YAML 1.1 integers as the resolver tags them: ``0x1F``, ``0o17``/``017``, ``1_000``, ``1:30``."""
    value = text.replace("_", "")
    sign = 1
    if value[:1] in ("+", "-"):  # not value[0]: an explicit ``!!int ""`` is empty
        sign = -1 if value[0] == "-" else 1
        value = value[1:]
    if value == "0":
        return 0
    if value.startswith("0b"):
        return sign * int(value[2:], 2)
    if value.startswith("0x"):
        return sign * int(value[2:], 16)
    if value.startswith("0o"):
        return sign * int(value[2:], 8)
    if value[:1] == "0":
        return sign * int(value, 8)
    if ":" in value:
        return sign * sexagesimal(value)
    return sign * int(value)


def yaml11_float(text: str) -> float:
    value = text.replace("_", "").lower()
    sign = 1.0
    if value[:1] in ("+", "-"):
        sign = -1.0 if value[0] == "-" else 1.0
        value = value[1:]
    if value == ".inf":
        return sign * math.inf
    if value == ".nan":
        return math.nan
    if ":" in value:  # ``1:30.5``: only the last base-60 digit has a fraction
        whole, _, last = value.rpartition(":")
        return sign * (sexagesimal(whole) * 60 + float(last))
    return sign * float(value)


def sexagesimal(value: str) -> int:
    total = 0
    for part in value.split(":"):
        total = total * 60 + int(part)
    return total
