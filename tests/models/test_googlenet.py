"""GoogLeNet: torchvision's published weight file loads tensor for tensor, and the net is torchvision's.

The file is rebuilt from random tensors in the published layout (torchvision_files.py). What every
model promises (catalogue against activations, early stop, minimum side, weight errors) is in
test_contract.py.
"""

from __future__ import annotations

import pytest
import torch
from torchvision_files import AUX_PREFIXES, expected_key

from reverie.models import get_spec
from reverie.models.cards.googlenet import googlenet_catalogue

TORCHVISION_CATALOGUE = {
    "conv1": (64, 2),
    "maxpool1": (64, 4),
    "conv2": (64, 4),
    "conv3": (192, 4),
    "maxpool2": (192, 8),
    "inception3a": (256, 8),
    "inception3b": (480, 8),
    "maxpool3": (480, 16),
    "inception4a": (512, 16),
    "inception4b": (512, 16),
    "inception4c": (512, 16),
    "inception4d": (528, 16),
    "inception4e": (832, 16),
    "maxpool4": (832, 32),
    "inception5a": (832, 32),
    "inception5b": (1024, 32),
}


def test_every_published_tensor_lands_in_place(published_file, published_model):
    file_state = torch.load(published_file("googlenet"), map_location="cpu", weights_only=True, mmap=True)
    model_state = published_model("googlenet").state_dict()
    landed = set()
    for key, tensor in file_state.items():
        target = expected_key("googlenet", key)
        if target is not None:
            assert torch.equal(model_state[target], tensor), f"{key} -> {target}"
            landed.add(target)
    assert landed == set(model_state)
    dropped = [key for key in file_state if key.startswith(AUX_PREFIXES["googlenet"])]
    assert len(dropped) == 2 * (6 + 4)


@pytest.mark.parametrize(
    ("key", "target"),
    [
        ("conv1.conv.weight", "stages.conv1.conv.weight"),
        ("inception4c.branch3.1.conv.weight", "stages.inception4c.branch3.1.conv.weight"),
        ("inception5b.branch4.1.bn.running_var", "stages.inception5b.branch4.1.bn.running_var"),
        ("conv1.bn.num_batches_tracked", "stages.conv1.bn.num_batches_tracked"),
        ("fc.weight", "head.fc.weight"),
    ],
)
def test_known_keys_map_to_named_stages(key, target, published_file, published_model):
    file_state = torch.load(published_file("googlenet"), map_location="cpu", weights_only=True, mmap=True)
    assert torch.equal(published_model("googlenet").state_dict()[target], file_state[key])


def test_catalogue_is_torchvisions():
    assert {
        info.name: (info.channels, info.stride) for info in googlenet_catalogue()
    } == TORCHVISION_CATALOGUE
    assert get_spec("googlenet").input_size == 224


def test_input_is_normalised_to_plus_minus_one(published_model):
    # torchvision's transform_input makes pretrained GoogLeNet see (rgb - 0.5) / 0.5.
    model = published_model("googlenet")
    rgb = torch.tensor([0.0, 0.5, 1.0]).view(1, 3, 1, 1)
    assert torch.allclose(model.normalise(rgb), torch.tensor([-1.0, 0.0, 1.0]).view(1, 3, 1, 1))
