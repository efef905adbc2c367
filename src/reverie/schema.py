"""One declaration per knob: its type, bounds, unit, default and help, and every rule derived from it.

A settings class (:mod:`reverie.settings`) declares each field with :func:`knob`; from that one
declaration come the library's checks (:func:`check_field`, raising a :class:`SettingsError` that
carries the field, the value and the limit it missed), the command line's options and their help
(:mod:`reverie.cli`), the web form's inputs and the OpenAPI schema (:mod:`reverie.web.form`, through
:func:`bounds_schema`), the range text in messages and help (:func:`range_text`), and the tasks' JSON.
A server that wants a lower cap than the library (steps on a shared server) derives a tighter knob
with :meth:`Knob.capped` rather than stating a second bound.

The declaration is plain data, not a pydantic model, so ``reverie --help`` builds its options
without importing pydantic; the web app turns the same knobs into pydantic fields.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import MISSING, Field, dataclass, field, fields, replace
from typing import Any

from reverie.errors import Setting, SettingsError

#: Largest magnitude of any float setting: float32's largest finite value. A setting the network
#: computes with in float32 must fit it; every float knob also declares a far tighter bound.
FLOAT32_MAX = 3.4028234663852886e38


@dataclass(frozen=True)
class Knob:
    """What one setting accepts and how it is explained.

    ``minimum``/``maximum`` are inclusive unless ``above``/``below`` make them exclusive (``(0, 1]``
    is ``minimum=0, above=True, maximum=1``). ``zero`` names what 0 means where 0 is allowed outside
    the range (``tile_size``: "auto"). ``choices`` lists the only accepted strings. ``unit`` is
    printed after numbers ("px"). ``option`` is the command line's flag when it is not the field's
    name with dashes (``--no-stabilize``); ``label`` is the web form's name for it; ``step`` the
    granularity a form offers. ``file`` marks a setting that names a file (a guide image): the
    command line takes a path, the web an upload, and a result's recipe only the file's name.
    """

    help: str
    minimum: float | None = None
    maximum: float | None = None
    above: bool = False
    below: bool = False
    zero: str = ""
    choices: tuple[str, ...] = ()
    unit: str = ""
    option: str = ""
    label: str = ""
    step: float | None = None
    file: bool = False

    def capped(self, maximum: float) -> Knob:
        """This knob with a lower maximum (a server's cap); 0's special meaning goes with the cap,
        since "0: full size" would escape it."""
        if self.maximum is not None and maximum >= self.maximum:
            return self
        return replace(self, maximum=maximum, below=False, zero="")

    def limits(self) -> dict[str, Any]:
        """The bounds as JSON Schema words (``minimum``, ``exclusiveMaximum``, ``enum``...), for
        errors and schemas alike."""
        found: dict[str, Any] = {}
        if self.minimum is not None:
            found["exclusiveMinimum" if self.above else "minimum"] = self.minimum
        if self.maximum is not None:
            found["exclusiveMaximum" if self.below else "maximum"] = self.maximum
        if self.choices:
            found["enum"] = list(self.choices)
        if self.zero:
            found["zero"] = self.zero
        return found


@dataclass(frozen=True)
class Declared:
    """A settings field and its knob: name, Python type, default."""

    name: str
    kind: type
    default: Any
    knob: Knob


def knob(default: Any, help: str, **rules: Any) -> Any:
    """A dataclass field declared with its :class:`Knob`: ``steps: int = knob(10, "Steps per octave",
    minimum=1, maximum=10_000)``."""
    return field(default=default, metadata={"knob": Knob(help, **rules)})


def borrowed(settings_class: type, name: str) -> Any:
    """A field declared exactly as ``settings_class``'s field ``name``: for a class that holds the
    same knob (a task's ``max_pixels``), so the declaration stays in one place."""
    item = declaration(settings_class, name)
    return field(default=item.default, metadata={"knob": item.knob})


def declared(settings_class: type) -> Iterator[Declared]:
    """Every knob of a settings class, in field order."""
    for item in fields(settings_class):
        if "knob" in item.metadata:
            yield Declared(item.name, field_type(item), item.default, item.metadata["knob"])


def declaration(settings_class: type, name: str) -> Declared:
    """The knob of one field of a settings class."""
    for found in declared(settings_class):
        if found.name == name:
            return found
    raise KeyError(name)


def field_type(item: Field[Any]) -> type:
    """A field's Python type, from its default (the classes use ``from __future__ import
    annotations``, so annotations are strings)."""
    if item.default is MISSING:
        raise TypeError(f"knob {item.name} needs a default")
    return type(item.default)


# ---------------------------------------------------------------------------------------- checks


TYPE_WORDS = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def check_type(name: str, value: object, kind: type) -> None:
    """:class:`SettingsError` unless ``value`` is a ``kind`` (an int passes for a float, a bool for
    nothing but a bool)."""
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SettingsError(
            Setting(name),
            f" must be {TYPE_WORDS.get(kind, kind.__name__)}; got {value!r}",
            field=name,
            value=value,
            limits={"type": kind.__name__},
        )


def check_field(name: str, value: object, kind: type, rules: Knob) -> None:
    """:class:`SettingsError` naming the field, the value and the limit, unless ``value`` is a
    ``kind`` within the knob's rules."""
    check_type(name, value, kind)
    if rules.choices and value not in rules.choices:
        raise SettingsError(
            Setting(name),
            f" must be one of {', '.join(rules.choices)}; got {value!r}",
            field=name,
            value=value,
            limits=rules.limits(),
        )
    if kind not in (int, float):
        return
    number: float = value  # type: ignore[assignment]  # an int stays exact: 2**63 - 1 is not 2**63
    if (isinstance(number, float) and not math.isfinite(number)) or not in_range(number, rules):
        raise SettingsError(
            Setting(name), f" must be {range_text(rules)}; got {value!r}", field=name, value=value,
            limits=rules.limits(),
        )  # fmt: skip


def in_range(number: float, rules: Knob) -> bool:
    if number == 0 and rules.zero:
        return True
    if abs(number) > FLOAT32_MAX:
        return False
    low, high = rules.minimum, rules.maximum
    if low is not None and (number < low or (rules.above and number == low)):
        return False
    return not (high is not None and (number > high or (rules.below and number == high)))


def check_declared(settings: object) -> None:
    """Every knob of a settings object checked; the first mistake raised."""
    for item in declared(type(settings)):
        check_field(item.name, getattr(settings, item.name), item.kind, item.knob)


# ---------------------------------------------------------------------------------------- words


def number_text(value: float, unit: str = "") -> str:
    """``10000``, ``0.95``, ``2**63``: a bound as people write it."""
    if value == 2**63:
        text = "2**63"
    elif float(value).is_integer():
        text = str(int(value))
    else:
        text = f"{value:g}"
    return f"{text} {unit}".rstrip() if unit else text


def range_text(rules: Knob) -> str:
    """The accepted values in words, for messages and help: ``between 1 and 10000``, ``more than 0
    and at most 1``, ``0 (auto) or between 64 and 8192 px``, ``at least 0``."""
    low, high = rules.minimum, rules.maximum
    if rules.choices:
        return "one of " + ", ".join(rules.choices)
    if low is not None and high is not None:
        if rules.above or rules.below:
            lower = f"more than {number_text(low)}" if rules.above else f"at least {number_text(low)}"
            upper = f"less than {number_text(high)}" if rules.below else f"at most {number_text(high)}"
            text = f"{lower} and {upper}"
        else:
            text = f"between {number_text(low)} and {number_text(high)}"
    elif low is not None:
        text = f"more than {number_text(low)}" if rules.above else f"at least {number_text(low)}"
    elif high is not None:
        text = f"less than {number_text(high)}" if rules.below else f"at most {number_text(high)}"
    else:
        text = "a finite number"
    if rules.unit:
        text += f" {rules.unit}"
    return f"0 ({rules.zero}) or {text}" if rules.zero else text


def short_range(rules: Knob) -> str:
    """The range in the compact form help columns use: ``1..10000``, ``(0, 1]``, ``0 (auto) or
    64..8192``."""
    if rules.choices:
        return "|".join(rules.choices)
    low = "" if rules.minimum is None else number_text(rules.minimum)
    high = "" if rules.maximum is None else number_text(rules.maximum)
    if rules.above or rules.below:
        text = f"{'(' if rules.above else '['}{low}, {high}{')' if rules.below else ']'}"
    elif low and high:
        text = f"{low}..{high}"
    elif low:
        text = f">= {low}"
    else:
        text = f"<= {high}" if high else ""
    return f"0 ({rules.zero}) or {text}" if rules.zero else text


def option_name(name: str, rules: Knob | None = None) -> str:
    """The command line's flag for a field: its declared option, else ``--field-name``."""
    if rules is not None and rules.option:
        return rules.option
    return "--" + name.replace("_", "-")


# ---------------------------------------------------------------------------------------- schema


def bounds_schema(rules: Knob) -> dict[str, Any]:
    """The knob's bounds and choices in JSON Schema words (for OpenAPI): ``{"minimum": 1,
    "maximum": 200}``, or for a knob whose 0 means something else, 0 or the range."""
    bounds = {key: value for key, value in rules.limits().items() if key != "zero"}
    return {"anyOf": [{"const": 0}, bounds]} if rules.zero else bounds
