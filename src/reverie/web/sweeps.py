"""Variations from the page: one photo dreamed with every combination of up to two varied knobs.

``POST /api/sweeps`` takes a dream's form (:data:`reverie.web.form.FORM_KNOBS`) and
:data:`reverie.web.form.SWEEP_FIELDS` (``vary1=seed``, ``values1=1,2,3``, ``vary2=steps``,
``values2=5,10``). The values are read and the cells planned by the command line's own sweep
(:func:`reverie.sweep.parse_values`, :func:`reverie.sweep.plan_cells`: rows follow the first knob,
columns the second), each value checked within this server's rules and each cell as a job is
checked; a mistake is a 422 naming the field it came from (``values2``), found before the upload is
decoded (with a guide image, the cells are checked once it is stored: guide terms need it). The
upload is then stored once and each cell's job gets its own link to it (a hard link, else a copy),
so deleting one cell's job leaves the others whole. Each job is grouped (:class:`GroupView`); at
most :attr:`reverie.settings.ServerLimits.max_cells` of them per sweep.
Annotations here are evaluated (no ``from __future__ import annotations``): the form's model is
made per server, from its caps, as in :mod:`reverie.web.app`.
"""

import math
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, File, Form, HTTPException, UploadFile
from pydantic import BaseModel

from reverie.errors import ReverieError, Setting, SettingsError, WeightsNotFoundError
from reverie.models import DEFAULT_MODEL, get_spec
from reverie.schema import Knob as Rules
from reverie.schema import check_field
from reverie.settings import DreamSettings
from reverie.sweep import Cell, Knob, parse_values, plan_cells
from reverie.web.form import FORM_KNOBS, SWEEP_FIELDS, FormField, check_form, error_response, sweep_form_model
from reverie.web.jobs import FOLDERS, Job, JobStore, check_data_folder, new_job_id

if TYPE_CHECKING:
    from reverie.web.app import WebConfig
    from reverie.web.uploads import Received

#: The form's pairs of a varied knob and its values, rows first.
PAIRS = (("vary1", "values1"), ("vary2", "values2"))


class GroupView(BaseModel):
    """A job's place in the sweep it belongs to: its cell (0-based row and column, their label) in a
    grid of ``rows`` x ``columns`` dreams."""

    id: str
    row: int
    column: int
    label: str
    rows: int
    columns: int


@dataclass(frozen=True)
class Submitting:
    """What the app lends the sweep endpoint: its form and rules, and how it stores, checks, drafts
    and shows a job (:func:`reverie.web.app.create_app`)."""

    fields: Mapping[str, FormField]
    form: type[BaseModel]
    store: JobStore
    config: "WebConfig"
    store_files: Callable[..., tuple[dict[str, str], tuple[int, int]]]
    checked_job: Callable[[Job], Job]
    discard: Callable[[str, list["Received"]], None]
    draft_job: Callable[..., Job]
    no_weights: Callable[[str], ReverieError]
    view: Callable[[Job], BaseModel]
    view_model: type[BaseModel]
    wake: Callable[[], None]
    #: A full queue (429) or data folder (507) refuses a sweep before anything is read.
    check_room: Callable[[], None]


def sweep_router(lent: Submitting) -> APIRouter:
    """The router of ``POST /api/sweeps``, for a server whose form is ``lent.form``."""
    router = APIRouter()
    SweepForm = sweep_form_model(lent.form)

    @router.post(
        "/api/sweeps",
        response_model=list[lent.view_model],  # type: ignore[name-defined]
        status_code=201,
        summary="Dream one photo with every combination of up to two varied settings",
    )
    def sweep(
        form: Annotated[SweepForm, Form()],  # type: ignore[valid-type]
        image: Annotated[UploadFile | None, File(description="The photo")] = None,
        guide: Annotated[UploadFile | None, File(description="A guide image: borrow its motifs")] = None,
        mask: Annotated[UploadFile | None, File(description="Dream only where this image is white")] = None,
    ) -> Any:
        try:
            lent.check_room()
            knobs = checked_knobs(form, lent)
            base = DreamSettings(**{name: getattr(form, name) for name in FORM_KNOBS[DreamSettings]})
            # Planned before the upload is decoded, so a mistake costs no decoding; with a guide,
            # once it is stored (its terms need it).
            cells = None if guide is not None else planned(base, knobs, lent)
        except ReverieError as error:
            return error_response(error)
        if image is None:
            raise HTTPException(400, "choose a photo to dream")
        sweep = Sweep(lent, base, knobs)
        try:
            jobs = sweep.submit(image, guide, mask, cells)
        except ReverieError as error:
            return error_response(error, sweep.upload_names())
        return [lent.view(job) for job in jobs]

    return router


def checked_knobs(form: BaseModel, lent: Submitting) -> list[Knob]:
    """The form's varied knobs and their values, each value within this server's rules, and no more
    cells than it makes at once; a mistake names the form field it came from."""
    check_form(form, lent.fields)
    check_field("kind", form.kind, str, SWEEP_KIND)  # type: ignore[attr-defined]
    knobs = []
    for vary, values in PAIRS:
        name, text = getattr(form, vary), getattr(form, values)
        check_field(vary, name, str, SWEEP_FIELDS[vary])
        if not name and text.strip():
            raise SettingsError("values without a setting to vary: choose one in ", Setting(vary), field=vary)
        if name:
            knobs.append(Knob(name, checked_values(name, text, values, lent.fields)))
    cells = math.prod(len(knob.values) for knob in knobs)
    if cells > lent.config.max_cells:
        product = " x ".join(str(len(knob.values)) for knob in knobs) + " = " if len(knobs) > 1 else ""
        raise SettingsError(
            f"{product}{cells} dreams is more than this server makes in one sweep ({lent.config.max_cells})",
            field=PAIRS[len(knobs) - 1][1], value=cells, limits={"maximum": lent.config.max_cells},
        )  # fmt: skip
    return knobs


#: A sweep makes dreamed photos only.
SWEEP_KIND = Rules("What a sweep makes: dreamed photos.", choices=("dream",))


def checked_values(name: str, text: str, field_name: str, fields: Mapping[str, FormField]) -> tuple[Any, ...]:
    """The values of the knob ``name`` read from ``text`` as the command line's sweep reads them,
    each within the form's rules for that knob (this server's caps); a mistake names ``field_name``."""
    try:
        values = parse_values(name, text)
        for value in values:
            check_field(name, value, fields[name].item.kind, fields[name].rules)
    except ReverieError as error:
        raise error.prefixed(field=field_name) from None
    return values


def planned(base: DreamSettings, knobs: list[Knob], lent: Submitting) -> list[Cell]:
    """Every cell, each checked as a job's settings are (layers, looks, weights); a mistake in a
    varied knob names its values' field."""
    by_knob = {knob.name: values for knob, (_, values) in zip(knobs, PAIRS, strict=False)}
    by_knob["vary"] = "vary2"  # a knob varied twice: the second one's mistake
    try:
        return plan_cells(base, knobs, "", lent.config.device, lent.config.max_pixels)
    except WeightsNotFoundError:
        raise refielded(lent.no_weights(without_weights(base, knobs)), by_knob) from None
    except ReverieError as error:
        raise refielded(error, by_knob) from None


def without_weights(base: DreamSettings, knobs: list[Knob]) -> str:
    """The first model of a sweep whose weights are not installed."""
    from reverie.weights import weights_available

    varied = [value for knob in knobs if knob.name == "model" for value in knob.values]
    models = varied or [base.model or DEFAULT_MODEL]
    return next((model for model in models if weights_available(get_spec(model)) is None), models[0])


def refielded(error: ReverieError, by_knob: Mapping[str, str]) -> ReverieError:
    """``error`` naming the form field of the varied knob it is about, if it is about one."""
    return error.prefixed(field=by_knob[error.field]) if error.field in by_knob else error


@dataclass
class Sweep:
    """One sweep being submitted: its upload stored once, one job per cell, all or none."""

    lent: Submitting
    base: DreamSettings
    knobs: list[Knob]
    group: str = field(default_factory=new_job_id)
    received: list["Received"] = field(default_factory=list)
    linked: list[Path] = field(default_factory=list)

    def submit(
        self,
        image: UploadFile,
        guide: UploadFile | None,
        mask: UploadFile | None,
        cells: list[Cell] | None,
    ) -> list[Job]:
        """Store the upload once, check every cell's job and queue them all; nothing stays of a
        refused sweep. ``cells``: planned already, else planned once the guide is stored."""
        first, store = new_job_id(), self.lent.store
        try:
            files, size = self.lent.store_files(first, "dream", self.base, image, guide, mask, self.received)
            stored = {role: store.folder / FOLDERS[role] / name for role, name in files.items()}
            if cells is None:
                extras = {role: str(stored[role]) for role in ("guide", "mask") if role in stored}
                cells = planned(self.base.with_changes(**extras), self.knobs, self.lent)
            names = {upload.role: upload.name for upload in self.received}
            jobs = [
                self.lent.checked_job(
                    self.draft(first if index == 0 else new_job_id(), cell, cells, stored, names, size)
                )
                for index, cell in enumerate(cells)
            ]
            check_data_folder(store.bytes_used(), self.lent.config.max_data_bytes)
            store.add(*jobs, max_queued=self.lent.config.max_queued)
        except BaseException:
            self.undo(first)
            raise
        self.lent.wake()
        return [store.get(job.id) or job for job in jobs]

    def upload_names(self) -> dict[Path, str]:
        """How messages name the uploads: as the user knows them."""
        return {upload.path: upload.called() for upload in self.received}

    def draft(
        self,
        job_id: str,
        cell: Cell,
        cells: list[Cell],
        stored: dict[str, Path],
        names: dict[str, str],
        size: tuple[int, int],
    ) -> Job:
        """The job of one cell, its files linked to the stored upload."""
        files = {role: self.linked_file(job_id, role, path).name for role, path in stored.items()}
        group = GroupView(
            id=self.group, row=cell.row, column=cell.column, label=cell.label,
            rows=1 + max(other.row for other in cells), columns=1 + max(other.column for other in cells),
        )  # fmt: skip
        options = {"names": names, "group": group.model_dump()}
        return self.lent.draft_job(
            job_id, "dream", cell.settings, options, files, names.get("photo"), size, ""
        )

    def linked_file(self, job_id: str, role: str, stored: Path) -> Path:
        """The stored upload ``stored`` as the file of ``role`` of the job ``job_id``."""
        target = self.lent.store.new_path(job_id, role, stored.suffix)
        if target == stored:
            return stored
        try:
            os.link(stored, target)
        except OSError:  # a file system without hard links
            shutil.copyfile(stored, target)
        self.linked.append(target)
        return target

    def undo(self, first: str) -> None:
        """Remove what a refused sweep left: its uploads, its working picture, its links."""
        self.lent.discard(first, self.received)
        for path in self.linked:
            path.unlink(missing_ok=True)
