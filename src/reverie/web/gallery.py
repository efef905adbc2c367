"""Jobs as a gallery shows them: a job's look, its settings in one line, and the listing's filters.

The line is made from the settings' declarations (:mod:`reverie.schema`): each knob the form offers
for the job's kind is written with its label, unit and what 0 means, so a knob added to the form
appears here too, worded as the form words it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, field_validator

from reverie.errors import UnknownModelError
from reverie.models import DEFAULT_MODEL, get_spec, list_models
from reverie.schema import Declared, declaration, number_text
from reverie.settings import DreamSettings, VideoSettings, ZoomSettings
from reverie.web.form import FORM_KNOBS, JOB_KINDS, KIND_SETTINGS
from reverie.web.jobs import Job

#: Most jobs one page of the listing holds.
MAX_PAGE = 500
#: Knobs written together as one part: ``10 steps x 4 octaves``.
PAIRED = {"steps": "octaves"}
#: What the line says about a job's look: model, look or layers come first, in their own words.
LOOK_KNOBS = ("model", "preset", "layers")
#: Where each kind of job keeps the settings of its own (a zoom's motion, a video's coherence).
OPTIONS_OF = {ZoomSettings: "motion", VideoSettings: "coherence"}
SEPARATOR = " · "


def all_looks() -> dict[str, list[tuple[str, str]]]:
    """Every look any registered model has: its name -> (model, layers) of each model that has it."""
    looks: dict[str, list[tuple[str, str]]] = {}
    for model in list_models():
        for name, layers in get_spec(model).presets.items():
            looks.setdefault(name, []).append((model, layers))
    return looks


class JobListing(BaseModel):
    """Which jobs ``GET /api/jobs`` lists, newest first (the total is in ``X-Total-Count``)."""

    limit: int = Field(50, ge=1, le=MAX_PAGE, description="Jobs on this page.")
    offset: int = Field(0, ge=0, description="Jobs skipped before this page (newest first).")
    kind: str | None = Field(
        None, description="Only jobs of this kind.", json_schema_extra={"enum": list(JOB_KINDS)}
    )
    look: str | None = Field(None, description="Only jobs that dream this look (a preset's name).")

    @field_validator("kind")
    @classmethod
    def known_kind(cls, kind: str | None) -> str | None:
        if kind is not None and kind not in JOB_KINDS:
            raise ValueError(f"kind must be one of {', '.join(JOB_KINDS)}")
        return kind

    @field_validator("look")
    @classmethod
    def known_look(cls, look: str | None) -> str | None:
        if look is not None and look not in all_looks():
            raise ValueError(f"no model has the look {look!r}; looks: {', '.join(all_looks())}")
        return look

    def looks_layers(self) -> list[tuple[str, str]] | None:
        """(model, layers) a listed job must dream, or None for any."""
        return None if self.look is None else all_looks()[self.look]


def job_look(settings: DreamSettings) -> str:
    """The look a job dreams: the preset it names when it dreams that preset's layers, else any
    preset of its model with the same layers; "" for layers of the user's own."""
    try:
        presets = get_spec(settings.model or DEFAULT_MODEL).presets
    except UnknownModelError:  # a job of a model this version no longer has: its layers say it
        return ""
    if presets.get(settings.preset) == settings.layers:
        return settings.preset
    return next((name for name, layers in presets.items() if layers == settings.layers), "")


def job_summary(job: Job) -> str:
    """A job's settings in one line: ``Look: patterns · 10 steps x 4 octaves · Strength: 0.01 ·
    Seed: 3 · Size: 768 px``, then its guide and mask and the knobs of its kind (a zoom's frames...)."""
    look = job_look(job.settings)
    parts = [] if job.settings.model in ("", DEFAULT_MODEL) else [part_of("model", job.settings.model)]
    parts.append(part_of("preset", look) if look else part_of("layers", job.settings.layers))
    parts += [label_of(DreamSettings, role) for role in ("guide", "mask") if role in job.files]
    paired = set(PAIRED.values())
    for settings_class in KIND_SETTINGS.get(job.kind, (DreamSettings,)):
        values = settings_values(job, settings_class)
        for name in FORM_KNOBS[settings_class]:
            if name in LOOK_KNOBS or name in paired:
                continue
            item = declaration(settings_class, name)
            if name in PAIRED:
                other = declaration(settings_class, PAIRED[name])
                parts.append(f"{counted(item, values[name])} x {counted(other, values[other.name])}")
            elif item.kind is not bool:
                parts.append(part_of(name, value_text(item, values[name]), settings_class))
            elif values[name] != item.default:  # a switch is told only when it is not as it usually is
                parts.append(label_of(settings_class, name) + ("" if values[name] else ": off"))
    return SEPARATOR.join(parts)


def settings_values(job: Job, settings_class: type) -> dict[str, Any]:
    """The job's values of the knobs ``settings_class`` declares (its defaults where unrecorded)."""
    if settings_class is DreamSettings:
        return job.settings.to_dict()
    return settings_class.from_dict(job.options.get(OPTIONS_OF[settings_class], {})).to_dict()


def label_of(settings_class: type, name: str) -> str:
    return declaration(settings_class, name).knob.label or name.replace("_", " ")


def part_of(name: str, text: str, settings_class: type = DreamSettings) -> str:
    """``Label: text``, by the form's label of the knob ``name``."""
    return f"{label_of(settings_class, name)}: {text}"


def value_text(item: Declared, value: Any) -> str:
    """A knob's value as people read it: ``768 px``, ``0.01``, ``full size`` for a 0 that means it;
    no unit after a label that names it already."""
    rules = item.knob
    if value == 0 and rules.zero:
        return rules.zero
    if isinstance(value, int | float) and not isinstance(value, bool):
        return number_text(value, "" if "(" in rules.label else rules.unit)
    return str(value)


def counted(item: Declared, value: int) -> str:
    """``10 steps``: a count followed by its label in lower case."""
    return f"{value} {item.knob.label.lower()}"
