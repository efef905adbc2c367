"""The web form, derived from the settings' declarations (:mod:`reverie.schema`), and the page's words.

One pydantic model, :func:`form_model`, carries every knob the page offers with the bounds the
library declares, lowered where this server caps them (``reverie serve --max-steps``): FastAPI
parses the form with it and shows it in the OpenAPI schema, :func:`check_form` enforces the bounds
with the library's own check, and :func:`render_page` writes the same bounds into the page's inputs.
A mistake is a :class:`reverie.errors.ReverieError` that names its field; :func:`error_response`
words it for the page (form labels, the user's own file names, never a server path) and answers a
422 that names the field, as FastAPI answers one of its own.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from reverie.errors import (
    PixelLimitError,
    ReverieError,
    SettingsError,
    UnsupportedImageError,
    Words,
    did_you_mean,
)
from reverie.schema import Declared, Knob, bounds_schema, check_field, declaration, number_text, short_range
from reverie.settings import DreamSettings, TaskOptions, VideoSettings, ZoomSettings

#: The knobs the page offers, by the settings class that declares them, in the page's order.
FORM_KNOBS: dict[type, tuple[str, ...]] = {
    DreamSettings: (
        "model", "preset", "layers", "steps", "octaves", "step_size", "seed", "max_side", "keep_colors",
    ),
    ZoomSettings: ("frames", "zoom", "rotate", "fps", "stabilise"),
    VideoSettings: ("blend", "flow"),
}  # fmt: skip
#: Web defaults that differ from the library's: a working size quick enough on a CPU.
WEB_DEFAULTS = {"max_side": 768}
#: Files a job takes, and how the page names each.
UPLOAD_LABELS = {"image": "Photo", "video": "Video", "guide": "Guide image", "mask": "Mask"}
#: What a job makes.
JOB_KINDS = ("dream", "zoom", "video")
#: File types of a zoom.
ZOOM_FORMATS = ("mp4", "gif", "webp")
#: Server settings that lower a knob's maximum (``reverie serve --max-steps``...): knob -> cap field.
CAPPED_BY = {"steps": "max_steps", "max_side": "max_side", "frames": "max_frames"}


@dataclass(frozen=True)
class FormField:
    """A knob as this server's form offers it: its declaration and its rules after the caps."""

    item: Declared
    rules: Knob
    default: Any


def form_fields(caps: Mapping[str, int]) -> dict[str, FormField]:
    """Every knob of the form, with ``caps`` (cap field -> value, see :data:`CAPPED_BY`) applied."""
    found = {}
    for settings_class, names in FORM_KNOBS.items():
        for name in names:
            item = declaration(settings_class, name)
            rules = item.knob
            if name in CAPPED_BY:
                rules = rules.capped(caps[CAPPED_BY[name]])
            found[name] = FormField(item, rules, WEB_DEFAULTS.get(name, item.default))
    return found


def form_model(fields: Mapping[str, FormField]) -> type[BaseModel]:
    """The pydantic model of the form: each knob's type, default, label and help, and its bounds in
    the schema (:func:`reverie.schema.bounds_schema`). Pydantic parses the types;
    the bounds are enforced by :func:`check_form`, the library's check, so a message reads the same
    whichever bound is missed."""
    definitions: dict[str, Any] = {
        "kind": (Literal[JOB_KINDS], Field("dream", description="What to make.")),
        "format": (Literal[ZOOM_FORMATS], Field("mp4", description="Zoom: the file type.")),
    }
    for name, entry in fields.items():
        definitions[name] = (
            entry.item.kind,
            Field(
                entry.default,
                title=entry.rules.label,
                description=entry.rules.help,
                json_schema_extra=bounds_schema(entry.rules),
            ),
        )
    # Extra fields are kept (the uploads arrive in the same form) and refused by check_form, so a
    # misspelt field is an error rather than a default silently used.
    return create_model("DreamForm", __config__=ConfigDict(frozen=True, extra="allow"), **definitions)


class UnknownFieldError(SettingsError):
    """A form field this server does not know (a misspelt or retired name)."""


def check_form(form: BaseModel, fields: Mapping[str, FormField]) -> None:
    """Every knob of a parsed form within this server's rules, and no field the form does not have;
    the first mistake raised, naming its field, as the library names it."""
    for name in form.model_extra or {}:
        if name not in UPLOAD_LABELS:
            known = [*type(form).model_fields, *UPLOAD_LABELS]
            raise UnknownFieldError(
                f"the form has no field {name!r}{did_you_mean(name, known)}; fields: {', '.join(known)}",
                field=name, limits={"enum": known},
            )  # fmt: skip
    for name, entry in fields.items():
        check_field(name, getattr(form, name), entry.item.kind, entry.rules)


def server_caps(fields: Mapping[str, FormField]) -> dict[str, float]:
    """What this server lowers, by knob: the maximum it enforces (for the page and ``/api/server``)."""
    return {name: fields[name].rules.maximum for name in CAPPED_BY if fields[name].rules.maximum is not None}


# ----------------------------------------------------------------------------------------- words


def page_words(names: Mapping[Path, str] | None = None) -> Words:
    """The page's words for a message: settings by their form labels, the user's files as the user
    knows them (``names``: path -> words), any other file of the server as "a file on the server"."""
    known = {Path(path): words for path, words in (names or {}).items()}
    return Words(setting=setting_label, file=lambda path: known.get(path, "a file on the server"))


def setting_label(name: str) -> str:
    """The form's label of a setting, else its name in words."""
    if name in UPLOAD_LABELS:
        return UPLOAD_LABELS[name]
    for settings_class in (DreamSettings, ZoomSettings, VideoSettings, TaskOptions):
        try:
            label = declaration(settings_class, name).knob.label
        except KeyError:
            continue
        if label:
            return label
    return name.replace("_", " ")


def error_response(error: ReverieError, names: Mapping[Path, str] | None = None) -> JSONResponse:
    """An error as the API answers it: a mistake in a form field is a 422 that names the field (as
    FastAPI's own validation errors do), in the page's words; a file that is not an image a 415;
    any other mistake a 400 with its message."""
    message = error.render(page_words(names))
    if error.field in FORM_FIELD_NAMES or isinstance(error, UnknownFieldError):
        detail = {
            "loc": ["body", error.field], "msg": message, "type": "value_error",
            "input": json_safe(error.value), "ctx": json_safe(error.limits),
        }  # fmt: skip
        return JSONResponse({"detail": [detail]}, status_code=422)
    return JSONResponse({"detail": message}, status_code=status_of(error))


#: Fields a 422 may name: the knobs, the job's kind and format, and its files.
FORM_FIELD_NAMES = frozenset(
    {name for names in FORM_KNOBS.values() for name in names} | {"kind", "format"} | set(UPLOAD_LABELS)
)


def status_of(error: ReverieError) -> int:
    """The HTTP status of a mistake that is not in one form field, by its kind."""
    if isinstance(error, UnsupportedImageError):
        return 415
    if isinstance(error, PixelLimitError):
        return 413
    return 400


def json_safe(value: Any) -> Any:
    """``value`` as JSON can hold it (NaN and infinity as text, others by their repr)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return repr(value)


# ------------------------------------------------------------------------------------------ page

#: ``{{steps.attrs}}``, ``{{steps.label}}``, ``{{steps.help}}``, ``{{steps.range}}`` in the page.
MARKER = re.compile(r"\{\{(\w+)\.(attrs|label|help|range)\}\}")


def input_attributes(entry: FormField) -> dict[str, str]:
    """The HTML attributes of a knob's input: min, max, step and value, from its rules."""
    rules, attributes = entry.rules, {}
    if entry.item.kind in (int, float):
        if rules.minimum is not None:
            attributes["min"] = number_text(0 if rules.zero else rules.minimum)
        if rules.maximum is not None:
            attributes["max"] = number_text(rules.maximum - (1 if rules.below else 0))
        attributes["step"] = (
            number_text(rules.step) if rules.step else ("1" if entry.item.kind is int else "any")
        )
        attributes["value"] = number_text(entry.default)
    elif entry.item.kind is str and entry.default:
        attributes["value"] = entry.default
    return attributes


def range_words(entry: FormField) -> str:
    """A knob's range as the page says it: ``1 to 200``, ``more than 0, up to 1``."""
    rules = entry.rules
    if rules.minimum is None or rules.maximum is None or rules.choices:
        return short_range(rules)
    low, high = number_text(rules.minimum), number_text(rules.maximum)
    if rules.above:
        return f"more than {low}, up to {high}"
    return f"{low} to {high}{' ' + rules.unit if rules.unit else ''}"


def render_page(template: str, fields: Mapping[str, FormField]) -> str:
    """The page with every knob's marker replaced by what the form's rules say."""

    def replace(found: re.Match[str]) -> str:
        entry = fields[found[1]]
        if found[2] == "attrs":
            return " ".join(f'{key}="{html.escape(value)}"' for key, value in input_attributes(entry).items())
        text = {"label": entry.rules.label, "help": entry.rules.help, "range": range_words(entry)}[found[2]]
        return html.escape(text)

    return MARKER.sub(replace, template)
