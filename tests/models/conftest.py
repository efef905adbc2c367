"""Models with generated weights, built once per session for the contract and per-architecture tests.

The bring-your-own models load a random file in their published format through ``load_model``, the
path users take; any other model is built by its spec and given random weights of trained scale.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from torchvision_files import LAYOUTS, random_state, write_published

from reverie.models import Backbone, get_spec, load_model
from reverie.weights import find_weights

#: State-dict leaves that are learnt (or running statistics) and so get random values.
RANDOMISED_LEAVES = ("weight", "bias", "running_mean", "running_var")


def randomised(name: str, seed: int = 0) -> Backbone:
    """``name`` built by its spec with random weights of trained scale, frozen; other buffers kept."""
    model = get_spec(name).build()
    state = model.state_dict()
    learnt = ((key, tuple(value.shape)) for key, value in state.items() if key.endswith(RANDOMISED_LEAVES))
    state.update(random_state(learnt, seed))
    model.load_state_dict(state)
    return model.freeze()


@pytest.fixture(scope="session")
def published_file(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """A model's generated file in its published format and name, written once per session."""
    folder = tmp_path_factory.mktemp("published")
    paths: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in paths:
            paths[name] = write_published(name, folder)
        return paths[name]

    return get


@pytest.fixture(scope="session")
def published_model(published_file: Callable[[str], Path]) -> Callable[[str], Backbone]:
    """A model loaded once, through ``load_model``, from its generated published-format file."""
    models: dict[str, Backbone] = {}

    def get(name: str) -> Backbone:
        if name not in models:
            models[name] = load_model(name, weights=published_file(name))
        return models[name]

    return get


@pytest.fixture(scope="session")
def generated_model(published_model: Callable[[str], Backbone]) -> Callable[[str], Backbone]:
    """Any registered model with random weights: from a published-format file where we can write one."""
    models: dict[str, Backbone] = {}

    def get(name: str) -> Backbone:
        if name in LAYOUTS:
            return published_model(name)
        if name not in models:
            models[name] = randomised(name)
        return models[name]

    return get


@pytest.fixture(scope="session")
def weights_file(published_file: Callable[[str], Path]) -> Callable[[str], Path]:
    """A weight file ``name`` loads: the generated one, or the real file an embedded model installs."""

    def get(name: str) -> Path:
        return published_file(name) if name in LAYOUTS else find_weights(get_spec(name))

    return get
