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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, create_model

from reverie.errors import (
    PixelLimitError,
    ResourceError,
    ReverieError,
    SettingsError,
    UnsupportedImageError,
    Words,
    did_you_mean,
)
from reverie.objectives import TERM_WEIGHT
from reverie.schema import Declared, Knob, bounds_schema, check_field, declaration, number_text, range_text
from reverie.settings import DreamSettings, TaskOptions, VideoSettings, ZoomSettings
from reverie.web.jobs import DataFolderFullError, QueueFullError, ServerBusyError

#: The knobs the page offers, by the settings class that declares them, in the page's order.
FORM_KNOBS: dict[type, tuple[str, ...]] = {
    DreamSettings: (
        "model", "preset", "layers", "steps", "octaves", "step_size", "seed", "max_side", "keep_colors",
    ),
    ZoomSettings: ("frames", "zoom", "rotate", "fps", "stabilise"),
    VideoSettings: ("blend", "flow"),
}  # fmt: skip
#: What a job makes, and how the page names each kind.
JOB_KINDS = {"dream": "A dreamed photo", "zoom": "A zoom animation", "video": "A dreamed video"}
#: The settings classes whose knobs a job of each kind takes (a photo's form ignores the zoom's).
KIND_SETTINGS: dict[str, tuple[type, ...]] = {
    "dream": (DreamSettings,),
    "zoom": (DreamSettings, ZoomSettings),
    "video": (DreamSettings, VideoSettings),
}
#: File types of a zoom, and how the page names each.
ZOOM_FORMATS = {"mp4": "MP4 video", "gif": "GIF", "webp": "WebP"}
#: Web defaults that differ from the library's: a working size quick enough on a CPU.
WEB_DEFAULTS = {"max_side": 768}
#: The form's two fields that are not settings: their labels and help.
CHOICE_LABELS = {"kind": "What to make", "format": "File type"}
CHOICE_HELP = {
    "kind": "What to make: a dreamed photo, a zoom animation or a dreamed video.",
    "format": "Zoom: the file type.",
}
#: The files a job may take, and how the page names the two that are not settings.
UPLOADS = ("image", "video", "guide", "mask")
UPLOAD_LABELS = {"image": "Photo", "video": "Video"}
#: Seconds a busy server asks to be left before the same request (``Retry-After``).
RETRY_AFTER_S = 60
#: Server settings that lower a knob's maximum (``reverie serve --max-steps``...): knob -> cap field.
CAPPED_BY = {"steps": "max_steps", "max_side": "max_side", "frames": "max_frames"}
#: What a sweep's form (``POST /api/sweeps``) adds to a dream's: a knob the form offers a dream and
#: its values, whose dreams make the rows, and optionally a second one, whose dreams make the columns.
SWEEP_FIELDS = {
    "vary1": Knob(
        "The setting to vary: one row of dreams per value.",
        choices=FORM_KNOBS[DreamSettings], label="Vary",
    ),
    "values1": Knob(
        "Its values, separated by commas (by semicolons when one holds a comma).", label="Values"
    ),
    "vary2": Knob(
        "A second setting to vary (optional): one column of dreams per value.",
        choices=("", *FORM_KNOBS[DreamSettings]), label="And vary",
    ),
    "values2": Knob("Its values, as for the first.", label="Its values"),
}  # fmt: skip


@dataclass(frozen=True)
class FormField:
    """A knob as this server's form offers it: its declaration, its rules after the caps, and its
    default (the web's, no higher than the cap)."""

    item: Declared
    rules: Knob
    default: Any


def form_fields(caps: Mapping[str, int], kinds: Sequence[str] = tuple(JOB_KINDS)) -> dict[str, FormField]:
    """Every field of the form: what to make (``kinds``: those this server makes), the zoom's file
    type, and every knob, with ``caps`` (cap field -> value, see :data:`CAPPED_BY`) applied."""
    choices = {"kind": tuple(kinds), "format": tuple(ZOOM_FORMATS)}
    found = {}
    for name, values in choices.items():
        rules = Knob(CHOICE_HELP[name], choices=values, label=CHOICE_LABELS[name])
        found[name] = FormField(Declared(name, str, values[0], rules), rules, values[0])
    for settings_class, names in FORM_KNOBS.items():
        for name in names:
            item = declaration(settings_class, name)
            rules, default = item.knob, WEB_DEFAULTS.get(name, item.default)
            if name in CAPPED_BY:
                rules = rules.capped(caps[CAPPED_BY[name]])
                default = min(default, rules.maximum)
            found[name] = FormField(item, rules, default)
    return found


def page_fields() -> dict[str, FormField]:
    """What the page shows besides a job's knobs: the channel picker's weight of a layer term, whose
    bounds are the objective's own (:data:`reverie.objectives.TERM_WEIGHT`)."""
    weight = FormField(Declared("weight", float, 1.0, TERM_WEIGHT), TERM_WEIGHT, 1.0)
    return {"weight": weight}


def form_model(fields: Mapping[str, FormField]) -> type[BaseModel]:
    """The pydantic model of the form: each field's type, default, label and help, and its bounds
    or choices in the schema (:func:`reverie.schema.bounds_schema`). Pydantic parses the types; the
    rules are enforced by :func:`check_form`, the library's check, so a message reads the same
    whichever rule is missed."""
    definitions: dict[str, Any] = {}
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


def sweep_form_model(form: type[BaseModel]) -> type[BaseModel]:
    """The pydantic model of a sweep's form: ``form`` (a server's :func:`form_model`) and
    :data:`SWEEP_FIELDS`, the second knob and its values optional."""
    definitions: dict[str, Any] = {
        name: (
            str,
            Field(
                ... if name.endswith("1") else "",
                title=rules.label,
                description=rules.help,
                json_schema_extra=bounds_schema(rules),
            ),
        )
        for name, rules in SWEEP_FIELDS.items()
    }
    return create_model("SweepForm", __base__=form, **definitions)


class UnknownFieldError(SettingsError):
    """A form field this server does not know (a misspelt or retired name)."""


def check_form(form: BaseModel, fields: Mapping[str, FormField]) -> None:
    """A parsed form within this server's rules: no field the form does not have, a kind this
    server makes, and every knob that kind of job takes (a photo's form may carry a zoom's knobs
    from the page; they are not its business). The first mistake is raised, naming its field, as
    the library names it."""
    for name in form.model_extra or {}:
        if name not in UPLOADS:
            known = [*fields, *UPLOADS]
            raise UnknownFieldError(
                f"the form has no field {name!r}{did_you_mean(name, known)}; fields: {', '.join(known)}",
                field=name, limits={"enum": known},
            )  # fmt: skip
    check_values({name: getattr(form, name) for name in fields}, fields)


def check_values(values: Mapping[str, Any], fields: Mapping[str, FormField]) -> None:
    """``values`` (field -> value: a form's, or a stored job's) within this server's rules, for the
    kind of job they make."""
    kind = fields["kind"]
    check_field("kind", values["kind"], str, kind.rules)
    taken = {name for settings_class in KIND_SETTINGS[values["kind"]] for name in FORM_KNOBS[settings_class]}
    for name, entry in fields.items():
        if name in taken or name == "format":
            check_field(name, values[name], entry.item.kind, entry.rules)


def server_caps(fields: Mapping[str, FormField]) -> dict[str, float]:
    """What this server lowers, by knob: the maximum it enforces (for the page and ``/api/server``)."""
    return {name: fields[name].rules.maximum for name in CAPPED_BY if fields[name].rules.maximum is not None}


# ----------------------------------------------------------------------------------------- words


def page_words(names: Mapping[Path, str] | None = None) -> Words:
    """The page's words for a message: settings by their form labels, the user's files as the user
    knows them (``names``: path -> words), any other file of the server as "a file on the server",
    a command by the page's name for its kind of job."""
    known = {Path(path): words for path, words in (names or {}).items()}
    return Words(
        setting=setting_label,
        file=lambda path: known.get(path, "a file on the server"),
        command=lambda name: repr(JOB_KINDS.get(name, name)),
    )


def setting_label(name: str) -> str:
    """The form's label of a setting, else its name in words."""
    if name in UPLOAD_LABELS:
        return UPLOAD_LABELS[name]
    if name in CHOICE_LABELS:
        return CHOICE_LABELS[name]
    if name in SWEEP_FIELDS:
        return SWEEP_FIELDS[name].label
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
    FastAPI's own validation errors do), in the page's words; any other with its message and the
    status of its kind (:func:`status_of`), and a busy server's with when to try again."""
    message = error.render(page_words(names))
    if error.field in FORM_FIELD_NAMES or isinstance(error, UnknownFieldError):
        detail = {
            "loc": ["body", error.field], "msg": message, "type": "value_error",
            "input": json_safe(error.value), "ctx": json_safe(error.limits),
        }  # fmt: skip
        return JSONResponse({"detail": [detail]}, status_code=422)
    headers = {"Retry-After": str(RETRY_AFTER_S)} if isinstance(error, ServerBusyError) else None
    return JSONResponse({"detail": message}, status_code=status_of(error), headers=headers)


#: Fields a 422 may name: the knobs, the job's kind and format, its files, and a sweep's fields.
FORM_FIELD_NAMES = (
    frozenset({name for names in FORM_KNOBS.values() for name in names} | {"kind", "format"})
    | set(UPLOADS)
    | set(SWEEP_FIELDS)
)


def status_of(error: ReverieError) -> int:
    """The HTTP status of a mistake that is not in one form field, by its kind."""
    if isinstance(error, UnsupportedImageError):
        return 415
    if isinstance(error, PixelLimitError):
        return 413
    if isinstance(error, QueueFullError):  # too many requests (jobs) for now
        return 429
    if isinstance(error, DataFolderFullError):  # insufficient storage
        return 507
    if isinstance(error, ResourceError):  # the server cannot do it now; it may later
        return 503
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

#: ``{{steps.attrs}}``, ``{{steps.label}}``, ``{{steps.help}}``, ``{{steps.range}}`` in the page, and
#: ``{{kind.choices}}``, ``{{format.choices}}`` for radio buttons and options.
MARKER = re.compile(r"\{\{(\w+)\.(attrs|label|help|range|choices)\}\}")


def input_attributes(entry: FormField) -> dict[str, str]:
    """The HTML attributes of a knob's input: min, max, step and value, from its rules."""
    rules, attributes = entry.rules, {}
    if entry.item.kind in (int, float):
        if rules.minimum is not None:  # an exclusive minimum: the least value the input steps to
            low = rules.minimum + (rules.step or 0) if rules.above else rules.minimum
            attributes["min"] = number_text(0 if rules.zero else low)
        if rules.maximum is not None:
            attributes["max"] = number_text(rules.maximum - (1 if rules.below else 0))
        attributes["step"] = (
            number_text(rules.step) if rules.step else ("1" if entry.item.kind is int else "any")
        )
        attributes["value"] = number_text(entry.default)
    elif entry.item.kind is str and entry.default:
        attributes["value"] = entry.default
    return attributes


def choices_html(name: str, entry: FormField) -> str:
    """The choices of ``kind`` as radio buttons, of ``format`` as a select's options, by their labels."""
    labels = {"kind": JOB_KINDS, "format": ZOOM_FORMATS}[name]
    if name == "kind":
        return "\n".join(
            f'<label><input type="radio" name="kind" value="{value}"{" checked" * (value == entry.default)}> '
            f"{html.escape(labels[value])}</label>"
            for value in entry.rules.choices
        )
    return "".join(
        f'<option value="{value}">{html.escape(labels[value])}</option>' for value in entry.rules.choices
    )


def render_page(template: str, fields: Mapping[str, FormField]) -> str:
    """The page with every field's marker replaced by what the form's rules say."""

    def replace(found: re.Match[str]) -> str:
        name, part = found[1], found[2]
        entry = fields[name]
        if part == "attrs":
            return " ".join(f'{key}="{html.escape(value)}"' for key, value in input_attributes(entry).items())
        if part == "choices":
            return choices_html(name, entry)
        text = {"label": entry.rules.label, "help": entry.rules.help, "range": range_text(entry.rules)}[part]
        return html.escape(text)

    return MARKER.sub(replace, template)
