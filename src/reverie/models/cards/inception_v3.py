"""InceptionV3 before it is built: the tutorial's layer catalogue, presets and weights.

Torch-free, so listing models and layers never loads PyTorch; :mod:`reverie.models.inception_v3`
builds the network.
"""

from __future__ import annotations

from reverie.models.registry import Deferred, LayerInfo, WeightsSource, register_model

# Hints follow the DeepDream tutorial and common experience: the stem and mixed0-2 give strokes and
# textures, mixed3-4 the swirls, mixed5-7 eyes and dog faces, mixed8-10 whole-object collages.
LAYERS = (
    LayerInfo("conv2d_1a", 32, 2, "colour noise and fine grain"),
    LayerInfo("conv2d_2a", 32, 2, "fine grain and colour fringes"),
    LayerInfo("conv2d_2b", 64, 2, "edges and fine lines"),
    LayerInfo("maxpool1", 64, 4, "edges and fine lines"),
    LayerInfo("conv2d_3b", 80, 4, "edges and colour blobs"),
    LayerInfo("conv2d_4a", 192, 4, "dots and small textures"),
    LayerInfo("maxpool2", 192, 8, "dots and small textures"),
    LayerInfo("mixed0", 256, 8, "strokes and simple textures"),
    LayerInfo("mixed1", 288, 8, "textures and wavy lines"),
    LayerInfo("mixed2", 288, 8, "textures and small curls"),
    LayerInfo("mixed3", 768, 16, "swirls and patterns"),
    LayerInfo("mixed4", 768, 16, "ornate patterns and arches"),
    LayerInfo("mixed5", 768, 16, "eyes and dog faces"),
    LayerInfo("mixed6", 768, 16, "animal parts: eyes, fur, feathers"),
    LayerInfo("mixed7", 768, 16, "dog faces, birds and pagodas"),
    LayerInfo("mixed8", 1280, 32, "whole animals and buildings"),
    LayerInfo("mixed9", 2048, 32, "dense collages of objects"),
    LayerInfo("mixed10", 2048, 32, "abstract object collages, least photo left"),
)


INCEPTION_WEIGHTS = (
    WeightsSource(
        filename="inception_v3_google-0cc3c7bd.pth",
        url="https://download.pytorch.org/models/inception_v3_google-0cc3c7bd.pth",
        description="torchvision ImageNet weights",
    ),
    WeightsSource(
        filename="inception_v3_weights_tf_dim_ordering_tf_kernels.h5",
        url=(
            "https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
            "inception_v3_weights_tf_dim_ordering_tf_kernels.h5"
        ),
        description="Keras applications ImageNet weights",
    ),
)

# The tutorial dreams on mixed3 and mixed5; shallower blocks give strokes, deeper ones objects.
INCEPTION_PRESETS = {
    "edges": "mixed0",
    "textures": "mixed2,mixed3",
    "patterns": "mixed3,mixed5",
    "objects": "mixed7,mixed8",
}


register_model(
    name="inception_v3",
    weights=INCEPTION_WEIGHTS,
    convert_weights=Deferred("reverie.models.inception_v3", "convert_inception_v3_weights"),
    description="InceptionV3 (tutorial layers mixed0..mixed10), 299 px; bring your own weights",
    presets=INCEPTION_PRESETS,
    default_preset="patterns",
    layers=LAYERS,
    input_size=299,
    # 75 px is the least that still leaves mixed8's unpadded 3x3 stride-2 convolution a 3x3 input.
    min_side=75,
    # Both published files expect [-1, 1].
    input_mean=(0.5,) * 3,
    input_std=(0.5,) * 3,
    build_network=Deferred("reverie.models.inception_v3", "inception_v3"),
)
