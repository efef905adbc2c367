"""VGG16/19: torchvision's published weight files load tensor for tensor; convs and relus are apart.

The files are rebuilt from random tensors in the published layout (torchvision_files.py). What every
model promises (catalogue against activations, early stop, minimum side, weight errors) is in
test_contract.py.
"""

from __future__ import annotations

import pytest
import torch
from torchvision_files import expected_key

from reverie.models import get_spec
from reverie.models.cards.vgg import vgg_catalogue

VGGS = ["vgg16", "vgg19"]
BLOCK_CHANNELS = (64, 128, 256, 512, 512)
CONVS_PER_BLOCK = {"vgg16": (2, 2, 3, 3, 3), "vgg19": (2, 2, 4, 4, 4)}


@pytest.mark.parametrize("name", VGGS)
def test_every_published_tensor_lands_in_place(name, published_file, published_model):
    file_state = torch.load(published_file(name), map_location="cpu", weights_only=True, mmap=True)
    model_state = published_model(name).state_dict()
    for key, tensor in file_state.items():
        target = expected_key(name, key)
        assert torch.equal(model_state[target], tensor), f"{key} -> {target}"
    assert len(file_state) == len(model_state) == 2 * (sum(CONVS_PER_BLOCK[name]) + 3)


@pytest.mark.parametrize(
    ("name", "key", "target"),
    [
        ("vgg16", "features.0.weight", "stages.conv1_1.weight"),
        ("vgg16", "features.17.bias", "stages.conv4_1.bias"),
        ("vgg16", "features.28.weight", "stages.conv5_3.weight"),
        ("vgg19", "features.25.bias", "stages.conv4_4.bias"),
        ("vgg19", "features.34.weight", "stages.conv5_4.weight"),
        ("vgg16", "classifier.6.weight", "head.classifier.6.weight"),
    ],
)
def test_known_keys_map_to_named_stages(name, key, target, published_file, published_model):
    file_state = torch.load(published_file(name), map_location="cpu", weights_only=True, mmap=True)
    assert torch.equal(published_model(name).state_dict()[target], file_state[key])


@pytest.mark.parametrize("name", VGGS)
def test_catalogue_has_every_conv_relu_and_pool(name):
    expected = []
    for block, (count, channels) in enumerate(zip(CONVS_PER_BLOCK[name], BLOCK_CHANNELS, strict=True), 1):
        for conv in range(1, count + 1):
            expected += [
                (f"conv{block}_{conv}", channels, 2 ** (block - 1)),
                (f"relu{block}_{conv}", channels, 2 ** (block - 1)),
            ]
        expected.append((f"pool{block}", channels, 2**block))
    assert [(info.name, info.channels, info.stride) for info in vgg_catalogue(name)] == expected
    assert get_spec(name).input_size == 224


def test_conv_outputs_are_not_overwritten_by_relu(published_model):
    model = published_model("vgg16")
    with torch.no_grad():
        found = model(torch.rand(1, 3, 32, 32), ["conv1_1", "relu1_1"])
    assert (found["conv1_1"] < 0).any()
    assert torch.equal(found["relu1_1"], found["conv1_1"].clamp(min=0))


@pytest.mark.parametrize("name", VGGS)
def test_input_is_normalised_with_imagenet_statistics(name, published_model):
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    model = published_model(name)
    assert torch.allclose(model.normalise(mean), torch.zeros(1, 3, 1, 1))
    assert torch.allclose(model.normalise(mean + std), torch.ones(1, 3, 1, 1))
