"""The ``reverie`` command: parse the command line into a task, run it, print what happened.

Every check and all the work live in :mod:`reverie.tasks`; this module only translates.
"""

from __future__ import annotations

import os
import re
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from reverie.errors import ReverieError, Setting, Words, internal_error, one_line, out_of_memory
from reverie.models import DEFAULT_MODEL, get_spec, list_models
from reverie.schema import Declared, declaration, declared, option_name, short_range
from reverie.settings import (
    BATCH_FORMATS,
    LOCAL_RAY,
    ClusterOptions,
    DreamSettings,
    LoopSettings,
    ServerLimits,
    TaskOptions,
    VideoSettings,
    ZoomSettings,
)
from reverie.version import __version__
from reverie.weights_cli import weights as weights_group

if TYPE_CHECKING:
    from reverie.cluster import Engine, Outcome
    from reverie.render import Progress
    from reverie.tasks import DreamTask, Task, VideoTask
    from reverie.web import WebConfig

# Everything that needs PyTorch (tasks, models, the render loop) is imported inside the command that
# uses it, so ``reverie --help``, ``reverie layers`` and ``reverie models`` start at once.

DEFAULTS = DreamSettings(model=DEFAULT_MODEL)
#: The options that are DreamSettings fields of the same name.
SETTING_OPTIONS = tuple(item.name for item in declared(DreamSettings))
#: The options that say how, not what, to dream (TaskOptions fields of the same name).
ENGINE_OPTIONS = ("weights", "device", "max_pixels")
#: Every declared knob's flag, by field name: how an error names the option at fault.
FLAGS = {
    item.name: option_name(item.name, item.knob)
    for settings_class in (
        DreamSettings,
        ZoomSettings,
        VideoSettings,
        TaskOptions,
        ClusterOptions,
        ServerLimits,
    )
    for item in declared(settings_class)
} | {name: f"--{name}" for name in ("layer", "channels", "classes")}  # the atlas's own fields
#: The command line's words for the settings and files in a message.
CLI_WORDS = Words(setting=lambda name: FLAGS.get(name) or option_name(name))


def knob_option(item: Declared, default: Any = None) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The click option of a declared knob: its flag, type, default and help come from the
    declaration; its bounds are checked by the library (so an out-of-range number is a one-line
    error naming the option, exit 1), its choices by click (a malformed command line, exit 2)."""
    rules = item.knob
    flag = option_name(item.name, rules)
    default = item.default if default is None else default
    if item.kind is bool:
        if flag.startswith("--no-"):  # the flag turns the setting off
            return click.option(
                flag, item.name, is_flag=True, flag_value=False, default=True, help=rules.help
            )
        return click.option(flag, item.name, is_flag=True, help=rules.help)
    kind: Any = {int: int, float: float}.get(item.kind, str)
    if rules.choices:
        kind = click.Choice(rules.choices)
    scope = short_range(rules) if item.kind in (int, float) else ""
    unit = f" {rules.unit}" if scope and rules.unit else ""
    text = f"{rules.help} Range: {scope}{unit}." if scope else rules.help
    return click.option(
        flag, item.name, type=kind, default=default, show_default=default != "",
        metavar="FILE" if rules.file else None, help=text,
    )  # fmt: skip


def knob_options(*items: Declared, **defaults: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Options for ``items``, in order (``defaults`` replace the declared ones by name)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        for item in reversed(items):
            function = knob_option(item, defaults.get(item.name))(function)
        return function

    return decorate


def task_option(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The option of one of the tasks' own knobs (:class:`reverie.settings.TaskOptions`)."""
    return knob_option(declaration(TaskOptions, name))


def dream_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The dream knobs, shared by every command that dreams: what to dream with (model, weights,
    layers, look), the loop's knobs, the picture's, then the device, the pixel limit and --quiet."""
    loop = [item.name for item in declared(LoopSettings)]
    picture = [item for item in declared(DreamSettings) if item.name not in loop]
    knobs = [
        picture[0], declaration(TaskOptions, "weights"), *picture[1:3], *declared(LoopSettings),
        *picture[3:], declaration(TaskOptions, "device"), declaration(TaskOptions, "max_pixels"),
    ]  # fmt: skip
    options = knob_options(*knobs, model=DEFAULT_MODEL)
    quiet = click.option("--quiet", "-q", is_flag=True, help="No progress output.")
    return options(quiet(function))


class ManualGroup(click.Group):
    """Lists each command with its whole first line (click cuts them at 45 characters)."""

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [
            (name, command.get_short_help_str(limit=200))
            for name in self.list_commands(ctx)
            if (command := self.get_command(ctx, name)) is not None and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(
    cls=ManualGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.version_option(__version__, prog_name="reverie")
def cli() -> None:
    """Reverie: DeepDream for photos, offline."""


@cli.command()
@click.argument("input_path", metavar="[INPUT]", type=click.Path(), required=False)
@click.option(
    "-o", "--output", type=click.Path(),
    help="Output image; the format follows the extension (.png .jpg .webp .tif .bmp .gif). "
    "Default: INPUT-dream.png beside INPUT (INPUT-dream-1.png, ... when taken).",
)  # fmt: skip
@click.option(
    "--settings-from", metavar="FILE",
    help="Reuse the settings stored in an earlier result; options you type override them "
    "(file paths stored in it are never used).",
)  # fmt: skip
@click.option("--from-noise", is_flag=True, help="Dream on a grey noise canvas instead of a photo.")
@click.option("--size", default="512x512", show_default=True, help="Canvas WxH, pixels, for --from-noise.")
@dream_options
@click.pass_context
def dream(
    ctx: click.Context,
    input_path: str | None,
    output: str | None,
    settings_from: str | None,
    from_noise: bool,
    size: str,
    **options: Any,
) -> None:
    """Dream INPUT (or, with --from-noise, a blank canvas) into an image.

    The picture is reduced to --max-side, then dreamed over --octaves scales, smallest first, with
    --steps of gradient ascent on the chosen layers at each. The settings are stored in the output,
    so --settings-from reproduces it.

    \b
    Examples:
      reverie dream photo.jpg                          # photo-dream.png, default look
      reverie dream photo.jpg -o dream.png --preset objects --steps 20
      reverie dream photo.jpg --layers blocks.11:37     # one channel
      reverie dream photo.jpg --layers blocks.11,class:espresso=0.5
      reverie dream photo.jpg --guide flowers.jpg --mask sky.png --keep-colors
    """
    from reverie.io.paths import unused_path
    from reverie.tasks import DreamTask, NoiseCanvas

    settings = settings_for(ctx, options, saved_settings(settings_from) if settings_from else None)
    if from_noise == (input_path is not None):
        raise click.UsageError("give either an INPUT image or --from-noise")
    source = NoiseCanvas(*parse_size(size)) if from_noise else Path(str(input_path))
    if output is None:
        base = Path("noise") if from_noise else Path(str(input_path)).expanduser()
        output = str(unused_path(base.with_name(f"{base.stem}-dream.png")))
    task = DreamTask(source, output, settings=settings, **engine(options))
    report_dream(output, run_task(task, options), options["quiet"])


def saved_settings(path: str) -> DreamSettings:
    """The settings stored in ``path`` (``--settings-from``); an error names the option."""
    from reverie.recipe import read_settings

    try:
        return read_settings(path)
    except ReverieError as error:
        raise error.prefixed(Setting("settings_from"), ": ", field="settings_from") from None


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` -> (width, height)."""
    found = re.fullmatch(r"(\d+)x(\d+)", text.strip().lower(), re.ASCII)
    if found is None:
        raise click.UsageError(f"--size must look like 512x384; got {text!r}")
    return int(found[1]), int(found[2])


@cli.command()
@click.option(
    "-o", "--output", default="reverie-demo.png", show_default=True, type=click.Path(),
    help="Output image; the format follows the extension.",
)  # fmt: skip
@dream_options
@click.pass_context
def demo(ctx: click.Context, output: str, **options: Any) -> None:
    """Dream the bundled sample photo (a cat) with the embedded model: no network, no GPU."""
    from reverie.samples import sample_path
    from reverie.tasks import DreamTask

    task = DreamTask(
        sample_path("chelsea"), output, settings=settings_for(ctx, options, None), **engine(options)
    )
    report_dream(output, run_task(task, options), options["quiet"])


def engine(options: dict[str, Any], ray_address: str | None = None) -> dict[str, Any]:
    """The task fields that say how, not what, to dream: weights file, device, pixel limit. On Ray
    (``ray_address``) the tasks' device is "auto": ``--device`` chooses the actors (GPU or CPU ones),
    and this machine need not have the GPU the actors use."""
    fields = {name: options[name] for name in ENGINE_OPTIONS}
    return fields | {"device": "auto"} if ray_address is not None else fields


def run_task(task: Task, options: dict[str, Any]) -> tuple[Task, Any, float]:
    """Check ``task`` (before any model loads), load its model, run it with progress on stderr.

    Returns the checked task, its result and the seconds it took.
    """
    from reverie.tasks import VideoTask, ZoomTask

    started = time.perf_counter()
    checked = task.check()
    dreamer = checked.new_dreamer()
    if isinstance(checked, ZoomTask | VideoTask):
        reporter: Reporter = frame_reporter(options["quiet"])
    else:
        reporter = progress_reporter(options["quiet"], getattr(checked, "terms", ()))
    with reporter as report:
        result = checked.run(dreamer, report)
    return checked, result, time.perf_counter() - started


def report_dream(output: str, done: tuple[Task, Any, float], quiet: bool) -> None:
    _, result, seconds = done
    if not quiet:
        picture = result.picture
        click.echo(f"wrote {output} ({picture.width}x{picture.height}, {seconds:.1f} s)")


def settings_for(ctx: click.Context, options: dict[str, Any], saved: DreamSettings | None) -> DreamSettings:
    """The options as settings; with ``saved`` ones, only the options typed on the command line
    override them, so ``--settings-from old.png --seed 3`` changes the seed and nothing else."""
    from reverie.recipe import without_files

    typed = {name: options[name] for name in SETTING_OPTIONS}
    if saved is None:
        return DreamSettings(**typed)
    changes = {
        name: typed[name]
        for name in SETTING_OPTIONS
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE
    }
    saved, dropped = without_files(saved)
    for name, path in dropped.items():
        if name not in changes:
            warn(
                f"--settings-from: ignoring the {name} path stored in the file ({path!r}); "
                f"give --{name} IMAGE to use one"
            )
    if not saved.model:
        changes.setdefault("model", options["model"])
    return saved.changed(**changes)


def warn(text: str) -> None:
    click.echo(f"reverie: warning: {text}", err=True)


def plural(noun: str, count: int) -> str:
    """``noun`` as it goes after ``count`` in a report line: "1 photo", "2 photos", "0 photos"."""
    return noun if count == 1 else f"{noun}s"


def shown_in(path: Path, folder: Path) -> str:
    """``path`` as found in ``folder`` (``sub/cat.png``), or whole when it lies elsewhere."""
    path, folder = path.expanduser().absolute(), folder.expanduser().absolute()
    return str(path.relative_to(folder)) if path.is_relative_to(folder) else str(path)


class Reporter:
    """Context manager giving a progress callback (None when quiet) and closing its tqdm bar."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar: Any = None

    def __enter__(self) -> Callable[..., None] | None:
        return None if self.quiet else self.report

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def report(self, *args: Any) -> None:
        raise NotImplementedError


class progress_reporter(Reporter):
    """A dream's progress: on a terminal one bar of the whole job, its share of the work weighted by
    each octave's pixels (so the time left it shows holds as the octaves grow), naming the octave
    and, for a sheet, the panel; in logs one line per octave; nothing when quiet.

    ``panels``: a sheet's layer terms, dreamed one after another with the same settings, so each is
    an equal share of the work; a new panel starts when the dream's share goes back down.
    """

    def __init__(self, quiet: bool, panels: tuple[str, ...] = ()) -> None:
        super().__init__(quiet)
        self.panels = panels
        self.panel = 0
        self.last_fraction = 0.0
        self.shown = 0.0  # percent already on the bar

    def report(self, event: Progress) -> None:  # type: ignore[override]
        if event.fraction < self.last_fraction and self.panel + 1 < len(self.panels):
            self.panel += 1
        self.last_fraction = event.fraction
        where = f"octave {event.octave}/{event.octaves}"
        if self.panels:
            where = f"panel {self.panel + 1}/{len(self.panels)} {self.panels[self.panel]}, {where}"
        if sys.stderr.isatty():
            self._update_bar(event, where)
        elif event.step == event.steps:
            width, height = event.size
            click.echo(f"{where} ({width}x{height}): objective {event.loss:.4f}", err=True)

    def _update_bar(self, event: Progress, where: str) -> None:
        from tqdm import tqdm

        if self.bar is None:
            layout = "{desc} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
            self.bar = tqdm(total=100.0, bar_format=layout, file=sys.stderr)
        share = (self.panel + event.fraction) / max(len(self.panels), 1)
        self.bar.set_description(where, refresh=False)
        self.bar.set_postfix(objective=f"{event.loss:.3f}", refresh=False)
        self.bar.update(100.0 * share - self.shown)
        self.shown = 100.0 * share


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Sheet image.")
@task_option("columns")
@dream_options
@click.pass_context
def sheet(ctx: click.Context, input_path: str, output: str, columns: int, **options: Any) -> None:
    """Dream INPUT once per layer (--layers a,b,c; default: five spread layers) into one labelled sheet."""
    from reverie.tasks import SheetTask

    settings = settings_for(ctx, options, None)
    task = SheetTask(input_path, output, columns=columns, settings=settings, **engine(options))
    checked, _, _ = run_task(task, options)
    if not options["quiet"]:
        terms = len(checked.terms)
        click.echo(f"wrote {output} ({terms} {plural('layer', terms)}: {', '.join(checked.terms)})")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option(
    "-o", "--output", required=True, type=click.Path(), help="Animation: .gif .webp .mp4 .mov .mkv .webm"
)
@knob_options(*declared(ZoomSettings))
@dream_options
@click.pass_context
def zoom(ctx: click.Context, input_path: str, output: str, **options: Any) -> None:
    """Dream INPUT, zoom in a little, dream again: an endless-zoom animation in OUTPUT."""
    from reverie.tasks import ZoomTask

    motion = ZoomSettings(**{item.name: options.pop(item.name) for item in declared(ZoomSettings)})
    task = ZoomTask(input_path, output, motion, settings=settings_for(ctx, options, None), **engine(options))
    _, result, seconds = run_task(task, options)
    if not options["quiet"]:
        click.echo(f"wrote {output} ({result.frames} {plural('frame', result.frames)}, {seconds:.1f} s)")


class frame_reporter(Reporter):
    """Progress of an animation: a tqdm bar of frames on a terminal, a line per frame in logs."""

    def report(self, done: int, total: int) -> None:  # type: ignore[override]
        if not sys.stderr.isatty():
            click.echo(f"frame {done}/{total}", err=True)
            return
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, initial=done - 1, unit="frame", file=sys.stderr)
        self.bar.update(1)


RAY_OPTION = click.option(
    "--ray",
    "ray_address",
    is_flag=False,
    flag_value=LOCAL_RAY,
    default=None,
    metavar="[ADDRESS]",
    help="Run on Ray: alone, a local instance (or RAY_ADDRESS's cluster); with ADDRESS, that one.",
)


def cluster_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """``--ray [ADDRESS]`` and the cluster knobs (``--workers``, ``--retries``, ``--stall-timeout``),
    shared by the commands that can run on Ray."""
    return RAY_OPTION(knob_options(*declared(ClusterOptions))(function))


def checked_cluster(
    ctx: click.Context, ray_address: str | None, local: tuple[str, ...] = (), **knobs: Any
) -> ClusterOptions:
    """The cluster knobs, checked; Ray installed and ``--ray``'s value an address rather than a photo
    it swallowed; a cluster knob typed without ``--ray`` a usage error, unless it is one of
    ``local`` (``--workers`` of a batch: dreams side by side here). Before any work."""
    from reverie.cluster import import_ray

    cluster = ClusterOptions(**knobs).validate()
    if ray_address is None:
        for name in knobs:
            if name not in local and ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
                raise click.UsageError(f"{FLAGS[name]} is about Ray workers: give --ray too")
        return cluster
    if ray_address != LOCAL_RAY and Path(ray_address).exists():
        raise click.UsageError(
            f"--ray took {ray_address!r} as a cluster address: put --ray after the photos, or --ray=ADDRESS"
        )
    import_ray()
    return cluster


def engine_for(ray_address: str | None, cluster: ClusterOptions, device: str) -> Engine:
    """This process (``--workers`` dreams side by side, by default as many as pay here), or Ray
    actors when --ray was given."""
    from reverie.cluster import LocalEngine, local_workers, ray_engine

    if ray_address is None:
        return LocalEngine(cluster.workers or local_workers(device))
    return ray_engine(ray_address, cluster.workers or None, cluster.retries, device, cluster.stall_timeout)


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option("-o", "--output", required=True, type=click.Path(), help="Video: .mp4 .mov .mkv .webm")
@knob_options(*declared(VideoSettings))
@task_option("keep_frames")
@cluster_options
@dream_options
@click.pass_context
def video(
    ctx: click.Context,
    input_path: str,
    output: str,
    keep_frames: bool,
    ray_address: str | None,
    workers: int,
    retries: int,
    stall_timeout: float,
    **options: Any,
) -> None:
    """Dream every frame of the video INPUT into OUTPUT, smoothly; rerun to resume after a stop.
    With --ray, segments of it are dreamed side by side on a Ray cluster."""
    from reverie.tasks import VideoTask

    cluster = checked_cluster(ctx, ray_address, workers=workers, retries=retries, stall_timeout=stall_timeout)
    coherence = VideoSettings(**{item.name: options.pop(item.name) for item in declared(VideoSettings)})
    settings = settings_for(ctx, options, None)
    task = VideoTask(
        input_path, output, coherence, keep_frames, settings=settings, **engine(options, ray_address)
    )
    if ray_address is None:
        _, result, seconds = run_task(task, options)
    else:
        result, seconds = run_video_on_ray(task, ray_address, cluster, options)
    if not options["quiet"]:
        resumed = f", {result.resumed} resumed" if result.resumed else ""
        frames = f"{result.frames} {plural('frame', result.frames)}"
        click.echo(f"wrote {output} ({frames}{resumed}, {seconds:.1f} s)")


def run_video_on_ray(
    task: VideoTask, ray_address: str, cluster: ClusterOptions, options: dict[str, Any]
) -> tuple[Any, float]:
    """Check the video task, then dream it in segments on Ray actors: its result and the seconds."""
    from reverie.cluster_video import dream_video

    started = time.perf_counter()
    checked = task.check()
    runner = engine_for(ray_address, cluster, options["device"])
    try:
        with frame_reporter(options["quiet"]) as report:
            result = dream_video(runner, checked, report)
    finally:
        runner.close()
    return result, time.perf_counter() - started


@cli.command()
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True)
@click.option("-o", "--output", "outdir", required=True, type=click.Path(), help="Output folder.")
@click.option("--recursive", is_flag=True, help="Take photos in subfolders of folder inputs too.")
@click.option(
    "--format", "output_format", type=click.Choice(BATCH_FORMATS), default="png", show_default=True,
    help="File type of the dreams: png (lossless, settings stored), jpg or webp (smaller).",
)  # fmt: skip
@cluster_options
@dream_options
@click.pass_context
def batch(
    ctx: click.Context,
    inputs: tuple[str, ...],
    outdir: str,
    recursive: bool,
    output_format: str,
    ray_address: str | None,
    workers: int,
    retries: int,
    stall_timeout: float,
    **options: Any,
) -> None:
    """Dream every photo of the INPUTs (files, folders, globs) into OUTDIR; rerun to resume."""
    from reverie.batch import Batch, collect_items
    from reverie.tasks import check_engine

    cluster = checked_cluster(
        ctx, ray_address, ("workers",), workers=workers, retries=retries, stall_timeout=stall_timeout
    )
    folder = Path(outdir).expanduser()
    engine_options = engine(options, ray_address)
    settings = check_engine(settings_for(ctx, options, None), **engine_options)
    items = collect_items(inputs, folder, recursive, f".{output_format}")
    make_output_folder(folder)
    work = Batch(items, folder, settings, **engine_options)
    runner = engine_for(ray_address, cluster, options["device"])
    started = time.perf_counter()
    try:
        with batch_reporter(options["quiet"], len(work.todo), folder) as report:
            summary = work.run(runner, report)
    finally:
        runner.close()
    seconds = time.perf_counter() - started
    already = f" ({summary.skipped} from an earlier run)" if summary.skipped else ""
    if summary.failed:
        raise click.ClickException(
            f"{summary.done + summary.skipped} done{already}, {summary.failed} failed: see {summary.manifest}"
        )
    if not options["quiet"]:
        photos = f"{summary.done} {plural('photo', summary.done)}"
        click.echo(f"dreamed {photos} into {folder}{already} in {seconds:.1f} s")


@cli.command()
@click.argument("input_path", metavar="INPUT", type=click.Path())
@click.option(
    "-o", "--output", required=True, type=click.Path(), help="The sheet (cells are written beside it)."
)
@click.option(
    "--vary",
    multiple=True,
    required=True,
    metavar="KNOB=V1,V2,...",
    help="A setting and its values (';' between values that hold commas); repeat for more knobs.",
)
@cluster_options
@dream_options
@click.pass_context
def sweep(
    ctx: click.Context,
    input_path: str,
    output: str,
    vary: tuple[str, ...],
    ray_address: str | None,
    workers: int,
    retries: int,
    stall_timeout: float,
    **options: Any,
) -> None:
    """Dream INPUT with every combination of the varied knobs into one labelled grid, OUTPUT."""
    from reverie.sweep import parse_vary, plan_cells, run_sweep

    cluster = checked_cluster(
        ctx, ray_address, ("workers",), workers=workers, retries=retries, stall_timeout=stall_timeout
    )
    engine_options = engine(options, ray_address)
    cells = plan_cells(
        settings_for(ctx, options, None), [parse_vary(text) for text in vary], **engine_options
    )
    runner = engine_for(ray_address, cluster, options["device"])
    try:
        with batch_reporter(options["quiet"], len(cells), Path(output).parent) as report:
            run_sweep(Path(input_path), Path(output), cells, runner, report, **engine_options)
    finally:
        runner.close()
    if not options["quiet"]:
        rows, columns = 1 + max(c.row for c in cells), 1 + max(c.column for c in cells)
        cells_of = f"{rows} x {columns} {plural('cell', rows * columns)}"
        click.echo(f"wrote {output} ({cells_of}; each beside it as {Path(output).stem}--*)")


@cli.command()
@click.option(
    "-o", "--output", required=True, type=click.Path(), help="The atlas (tiles are written beside it)."
)
@click.option(
    "--layer", default="", metavar="LAYER", help="The layer whose channels to show (see `reverie layers`)."
)
@click.option(
    "--channels", default="", metavar="0-63|3,17,...", help="Channels of --layer, as ranges or a list."
)
@click.option(
    "--classes", default="", metavar="tabby,espresso,...", help="ImageNet classes, by name or number."
)
@click.option(
    "--tile",
    "tile_side",
    default=128,
    show_default=True,
    type=click.IntRange(32, 1024),
    help="Side of a tile, px.",
)
@click.option("--columns", default=8, show_default=True, type=click.IntRange(1, 64), help="Tiles per row.")
@cluster_options
@dream_options
@click.pass_context
def atlas(
    ctx: click.Context,
    output: str,
    layer: str,
    channels: str,
    classes: str,
    tile_side: int,
    columns: int,
    ray_address: str | None,
    workers: int,
    retries: int,
    stall_timeout: float,
    **options: Any,
) -> None:
    """Dream every chosen channel of a layer (or class) from noise into one labelled grid, OUTPUT;
    each tile is kept beside it, and a second run reuses them."""
    from reverie.atlas import check_channels, parse_channels, plan_tiles, run_atlas

    cluster = checked_cluster(
        ctx, ray_address, ("workers",), workers=workers, retries=retries, stall_timeout=stall_timeout
    )
    if channels and not layer:
        raise click.UsageError("--channels are a --layer's: give --layer too")
    numbers = parse_channels(channels) if channels else []
    names = [name.strip() for name in classes.split(",") if name.strip()]
    tiles = plan_tiles(Path(output), layer, numbers, names)
    engine_options = engine(options, ray_address)
    settings = settings_for(ctx, options, None)
    if numbers:
        check_channels(settings.model, layer, numbers)
    runner = engine_for(ray_address, cluster, options["device"])
    try:
        with batch_reporter(options["quiet"], len(tiles), Path(output).parent) as report:
            _, dreamed = run_atlas(
                Path(output), tiles, settings, tile_side, runner, columns, report, **engine_options
            )
    finally:
        runner.close()
    if not options["quiet"]:
        reused = f", {len(tiles) - dreamed} from an earlier run" if dreamed < len(tiles) else ""
        click.echo(f"wrote {output} ({len(tiles)} {plural('tile', len(tiles))}: {dreamed} dreamed{reused})")


def make_output_folder(folder: Path) -> None:
    """``folder`` made (with its parents) and writable, or a one-line error."""
    if folder.exists() and not folder.is_dir():
        raise click.ClickException(f"output {folder} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise click.ClickException(f"cannot make the output folder {folder}: {one_line(error)}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise click.ClickException(
            f"permission denied writing to folder {folder}: choose another output folder"
        )


class batch_reporter(Reporter):
    """A batch's progress: one tqdm bar of photos on a terminal (rate, ETA), a line per photo in logs,
    naming it by its place in the output ``folder`` (``sub/cat.png``: two photos may share a name)."""

    def __init__(self, quiet: bool, total: int, folder: Path) -> None:
        super().__init__(quiet)
        self.total = total
        self.count = 0
        self.folder = folder

    def report(self, task: DreamTask, outcome: Outcome) -> None:  # type: ignore[override]
        self.count += 1
        if sys.stderr.isatty():
            from tqdm import tqdm

            if self.bar is None:
                self.bar = tqdm(total=self.total, unit="photo", file=sys.stderr)
            self.bar.update(1)
            return
        ending = f"failed: {outcome.error}" if outcome.error else f"{outcome.seconds:.2f} s"
        shown = shown_in(Path(str(task.output)), self.folder)
        click.echo(f"[{self.count}/{self.total}] {shown}: {ending}", err=True)


@cli.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback: this machine only).",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="TCP port, 1..65535."
)
@click.option(
    "--data-dir", type=click.Path(file_okay=False), help="Jobs, uploads and results [~/.local/share/reverie]."
)
@RAY_OPTION
@knob_option(declaration(ClusterOptions, "stall_timeout"))
@knob_option(declaration(TaskOptions, "device"))
@knob_options(*declared(ServerLimits))
@click.option(
    "--token",
    help="Access token every visitor and script must give, for this start (default, when --host is not "
    "loopback: the data folder's own, made at the first start and kept; none on loopback).",
)
@click.option(
    "--new-token",
    is_flag=True,
    help="Replace the data folder's access token with a new one (the old address and cookies stop "
    "working), and ask for it even on loopback.",
)
@click.option(
    "--no-token",
    is_flag=True,
    help="Serve other machines without a token: anyone who can reach it can use it.",
)
def serve(
    host: str,
    port: int,
    data_dir: str | None,
    ray_address: str | None,
    stall_timeout: float,
    device: str,
    token: str | None,
    new_token: bool,
    no_token: bool,
    **caps: Any,
) -> None:
    """Start the web app: upload photos, follow progress, download dreams (Ctrl-C stops it)."""
    ctx = click.get_current_context()
    from reverie.devices import resolve_device
    from reverie.web import WebConfig, allowed_hosts, default_data_dir, is_loopback
    from reverie.web import serve as run_server
    from reverie.web.guard import MIN_TOKEN, valid_token

    given = [flag for flag, used in (("--token", token is not None), ("--new-token", new_token),
                                     ("--no-token", no_token)) if used]  # fmt: skip
    if len(given) > 1:
        raise click.UsageError(f"{' and '.join(given)} contradict each other; give one")
    if token is not None and not valid_token(token):
        raise click.UsageError(f"--token must be at least {MIN_TOKEN} printable characters without spaces")
    checked_cluster(ctx, ray_address, stall_timeout=stall_timeout)
    resolve_device(device)
    limits = ServerLimits(**caps).validate()
    folder = Path(data_dir).expanduser() if data_dir else default_data_dir()  # made, and held, by serve
    if no_token and not is_loopback(host):
        warn(f"--no-token on {host}: anyone who can reach this machine can use the server and see its jobs")
    config = WebConfig.serving(
        folder, limits, device=device, allowed_hosts=allowed_hosts(host), ray_address=ray_address,
        stall_timeout=stall_timeout, token=token or "", new_token=new_token,
        keep_token=new_token or (token is None and not no_token and not is_loopback(host)),
    )  # fmt: skip

    def announce(running: WebConfig) -> None:
        for line in server_addresses(running, host, port):
            click.echo(line)

    run_server(config, host, port, announce, warn)


def server_addresses(config: WebConfig, host: str, port: int) -> list[str]:
    """What ``reverie serve`` prints once it is up: the address to open (with its token) at a name
    or address other machines reach, then the others it answers at."""
    from urllib.parse import quote

    from reverie.web import reachable_hosts

    query = f"?token={quote(config.token, safe='')}" if config.token else ""
    first, *others = (f"http://{name}:{port}/{query}" for name in reachable_hosts(host))
    kept = "; its token is kept there, --new-token replaces it" if config.keep_token else ""
    lines = [f"Reverie is at {first} (API docs at /docs; data in {config.data_dir}{kept})"]
    return lines + [f"  also at {address}" for address in others]


@cli.command()
@click.option("--model", default=DEFAULTS.model, show_default=True, help="Network whose layers to list.")
def layers(model: str) -> None:
    """List a model's dreamable layers, their channels and strides, and its presets."""
    spec = get_spec(model)
    click.echo(f"{'layer':<14} {'channels':>8} {'stride':>6}  tends to produce")
    for info in spec.layers:
        click.echo(f"{info.name:<14} {info.channels:>8} {info.stride:>6}  {info.hint}")
    click.echo("\npresets:")
    for name, spec_text in spec.presets.items():
        marker = " (default)" if name == spec.default_preset else ""
        click.echo(f"  {name:<10} {spec_text}{marker}")


@cli.command()
def models() -> None:
    """List the models, what each is, and the state of its weights (how to get missing ones)."""
    from reverie.weights import weights_state

    for name in list_models():
        spec = get_spec(name)
        click.echo(f"{name:<20} {spec.description}\n{'':<20} {weights_state(spec)}")


@cli.command()
@click.argument("image", type=click.Path())
@click.option(
    "--top", type=click.IntRange(1, 1000), default=5, show_default=True, help="Classes to print, 1..1000."
)
@click.option("--model", default=DEFAULTS.model, show_default=True, help="Network that classifies.")
@task_option("weights")
@task_option("max_pixels")
def classify(image: str, top: int, model: str, weights: str | None, max_pixels: int) -> None:
    """Print the most likely ImageNet classes of IMAGE."""
    from reverie.classify import classify as classify_picture
    from reverie.io.images import load_image
    from reverie.models import load_model
    from reverie.weights import find_weights

    find_weights(get_spec(model), weights or None)
    picture = load_image(image, max_pixels=max_pixels)
    for prediction in classify_picture(load_model(model, weights or None), picture, top):
        click.echo(f"{prediction.probability:7.2%}  {prediction.index:>4}  {prediction.name}")


def options_table(command_name: str) -> str:
    """A command's options as a Markdown table (option, default, what it does), as the README shows
    them: built from the options themselves, so from the settings' declarations."""
    command = cli.get_command(click.Context(cli), command_name)
    assert command is not None
    rows = ["| option | default | meaning |", "| --- | --- | --- |"]
    for param in command.params:
        if not isinstance(param, click.Option) or param.name == "help":
            continue
        flags = ", ".join(f"`{flag}`" for flag in param.opts)
        value = param.default
        shown = param.show_default and value is not None and value != "" and not isinstance(value, bool)
        default = f"`{value}`" if shown else ""
        text = " ".join((param.help or "").split()).replace("|", "\\|")
        rows.append(f"| {flags} | {default} | {text} |")
    return "\n".join(rows) + "\n"


def show_warning_in_one_line(message: Warning | str, *_args: object, **_kwargs: object) -> None:
    """Library warnings (a corrupt EXIF block, metadata too big for JPEG) as one stderr line."""
    warn(one_line(Exception(str(message))))


def cli_message(error: ReverieError) -> str:
    """A library error in the command line's words: settings by their options, and an error about
    one option that does not name it led by the option (``--layers: unknown layer 'block.8'``)."""
    text = error.render(CLI_WORDS)
    names_itself = Setting(error.field) in error.parts
    if error.field in FLAGS and not names_itself:
        text = f"{FLAGS[error.field]}: {text}"
    return text


def main(argv: list[str] | None = None) -> int:
    """Entry point: runs the command and turns every user error into one line on stderr."""
    args = sys.argv[1:] if argv is None else list(argv)
    warnings.showwarning = show_warning_in_one_line
    try:
        cli.main(args=args or ["--help"], prog_name="reverie", standalone_mode=False)
    except click.exceptions.Exit as done:
        return int(done.exit_code)
    except click.UsageError as error:
        click.echo(f"reverie: error: {error.format_message()}", err=True)
        return 2
    except (click.Abort, KeyboardInterrupt):
        click.echo("reverie: interrupted", err=True)
        return 130
    except ReverieError as error:
        click.echo(f"reverie: error: {cli_message(error)}", err=True)
        return 1
    except click.ClickException as error:
        click.echo(f"reverie: error: {error.format_message()}", err=True)
        return 1
    except Exception as error:  # the command line never shows a traceback
        torch = sys.modules.get("torch")
        out_of = (MemoryError,) + ((torch.cuda.OutOfMemoryError,) if torch is not None else ())
        if isinstance(error, out_of):
            click.echo(f"reverie: error: {cli_message(out_of_memory())}", err=True)
        else:  # a bug, not the user's mistake: one line all the same, and said to be one
            click.echo(f"reverie: {internal_error(error)} (please report it)", err=True)
        return 1
    return 0


cli.add_command(weights_group)

if __name__ == "__main__":
    sys.exit(main())
