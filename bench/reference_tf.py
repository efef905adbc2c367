"""The TensorFlow tutorial's DeepDream loop in TensorFlow itself, on InceptionV3 with random weights.

Run by bench_dream.py with ``--tf-python PATH`` (an interpreter that has ``tensorflow-cpu``); it is
never imported by Reverie. Prints one JSON line: seconds, pixel-steps and peak RSS. Timing does not
depend on weight values, so ``weights=None`` (no download) measures the same work as the tutorial.
"""

from __future__ import annotations

import json
import resource
import sys
import time

import tensorflow as tf


def dream_model(layer_names: list[str]) -> tf.keras.Model:
    """The tutorial's feature extractor: InceptionV3 up to the chosen ``mixed`` layers."""
    base = tf.keras.applications.InceptionV3(include_top=False, weights=None)
    return tf.keras.Model(inputs=base.input, outputs=[base.get_layer(n).output for n in layer_names])


def make_step(model: tf.keras.Model, shift: int):
    """One tutorial step as a tf.function: roll, gradient of the summed layer means, normalise, clip."""

    @tf.function(
        input_signature=(
            tf.TensorSpec(shape=[None, None, 3], dtype=tf.float32),
            tf.TensorSpec([], tf.float32),
        )
    )
    def step(image: tf.Tensor, step_size: tf.Tensor) -> tf.Tensor:
        offsets = tf.random.uniform([2], -shift, shift + 1, dtype=tf.int32)
        rolled = tf.roll(image, shift=offsets, axis=[0, 1])
        with tf.GradientTape() as tape:
            tape.watch(rolled)
            activations = model(tf.expand_dims(rolled, 0))
            loss = tf.add_n([tf.reduce_mean(a) for a in activations])
        gradient = tf.roll(tape.gradient(loss, rolled), shift=-offsets, axis=[0, 1])
        gradient /= tf.math.reduce_std(gradient) + 1e-8
        return tf.clip_by_value(image + gradient * step_size, -1, 1)

    return step


def main() -> None:
    job = json.loads(sys.argv[1])
    tf.random.set_seed(0)
    model = dream_model(job["layers"].split(","))
    step = make_step(model, 32)
    sizes = job["sizes"]  # (width, height) per octave, as Reverie computed them
    image = tf.random.uniform([sizes[-1][1], sizes[-1][0], 3], -1, 1)
    step(tf.image.resize(image, [sizes[0][1], sizes[0][0]]), tf.constant(0.01))  # trace once
    started = time.perf_counter()
    for width, height in sizes:
        image = tf.image.resize(image, [height, width])
        for _ in range(job["steps"]):
            image = step(image, tf.constant(0.01))
    _ = image.numpy()
    seconds = time.perf_counter() - started
    pixel_steps = sum(w * h for w, h in sizes) * job["steps"]
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "pixel_steps": pixel_steps, "peak_rss_mib": peak}))


if __name__ == "__main__":
    main()
