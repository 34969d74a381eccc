"""Grad-CAM (Selvaraju et al. 2017): where in an X-ray the chosen model finds evidence of pneumonia.

The model is cut after its last spatial feature map (MobileNetV2's last block for `mobilenet_head`, the
last convolution block for `cnn_depth`). The heat map weights each channel of that map by the mean
gradient of the PNEUMONIA logit with respect to it, keeps the positive evidence, and scales to 0..1.
The logit, not the probability: a confident model's sigmoid is flat, and its gradient would vanish.

`explain_images` writes one picture per image (`test --explain N`, `predict --explain DIR`); `GradCam`
computes the heat maps.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tuner.core.atomic import atomic_path
from tuner.engine.backends import input_gradient

EXPLAIN_BATCH = 16


class GradCam:
    """Heat maps and probabilities of a Keras model on images (N, S, S, 3) in 0..255.

    An ensemble's (`hypermodels.ensemble_model`) are the means of its members' heat maps and probabilities.

    Args:
        model: a model on images that ends in a sigmoid Dense layer (`hypermodels.load_trial_model`).

    Raises:
        ValueError: the model has no spatial feature map, or does not end in a sigmoid Dense layer.
    """

    def __init__(self, model) -> None:
        import keras

        layers = model.layers
        self.members = []
        if isinstance(layers[-1], keras.layers.Average):
            self.members = [GradCam(layer) for layer in layers if isinstance(layer, keras.Model)]
            return
        spatial = [index for index, layer in enumerate(layers) if _rank(layer) == 4]
        if not spatial:
            raise ValueError(f"model {model.name} has no spatial feature map to explain")
        cut = spatial[-1]
        self.features = keras.Model(model.input, _output_in_graph(layers[cut]), name="gradcam_features")
        self.rest = layers[cut + 1:]  # a chain from the feature map to the output in our models
        while isinstance(self.rest[-1], keras.Model):  # a head built as a model of its own: its layers
            self.rest = self.rest[:-1] + self.rest[-1].layers[1:]
        last = self.rest[-1]
        if not isinstance(last, keras.layers.Dense) or last.activation is not keras.activations.sigmoid:
            raise ValueError(f"model {model.name} does not end in a sigmoid Dense layer")

    def logits(self, feature_maps):
        """The PNEUMONIA logit from the feature map: the model's own layers, the last one without its sigmoid.

        Args:
            feature_maps: a batch of the cut layer's feature maps (a backend tensor or NumPy array).

        Returns:
            The logits, shape (N, 1), as a backend tensor.
        """
        import keras

        x = feature_maps
        for layer in self.rest[:-1]:
            x = layer(x, training=False)
        last = self.rest[-1]
        return keras.ops.matmul(x, last.kernel) + last.bias

    def __call__(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The heat maps and probabilities of `images`, EXPLAIN_BATCH at a time.

        Args:
            images: (N, S, S, 3), pixel values in 0..255.

        Returns:
            (heat maps (N, S, S) in 0..1 at the images' size, PNEUMONIA probabilities (N,)).
        """
        import keras

        if self.members:
            maps, probabilities = zip(*(member(images) for member in self.members), strict=True)
            return np.mean(maps, axis=0), np.mean(probabilities, axis=0)

        maps, probabilities = [], []
        for start in range(0, len(images), EXPLAIN_BATCH):
            batch = np.asarray(images[start:start + EXPLAIN_BATCH], dtype=np.float32)
            features = keras.ops.convert_to_numpy(self.features(batch, training=False)).astype(np.float32)
            gradients = input_gradient(self.logits, features)
            logits = keras.ops.convert_to_numpy(self.logits(features)).ravel()
            channel_weights = gradients.mean(axis=(1, 2), keepdims=True)
            cams = np.maximum((channel_weights * features).sum(axis=-1), 0.0)
            maps.append(_resize(cams, batch.shape[1:3]))
            probabilities.append(1.0 / (1.0 + np.exp(-logits.astype(np.float64))))
        return np.concatenate(maps), np.concatenate(probabilities)


def _output_in_graph(layer):
    """The layer's output tensor where the model calls it. A nested model's `output` is that of its own
    graph, so its (one) call in ours is read from Keras' node record instead."""
    import keras

    return layer._inbound_nodes[-1].outputs[0] if isinstance(layer, keras.Model) else layer.output


def _rank(layer) -> int:
    """How many axes the layer's output has in the model (4: a batch of feature maps)."""
    try:
        return len(_output_in_graph(layer).shape)
    except (AttributeError, IndexError, ValueError):  # a layer never called
        return 0


def _resize(cams: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Each map scaled to 0..1 by its own maximum (all zeros stay zeros), then resized bilinearly."""
    from PIL import Image

    peaks = cams.max(axis=(1, 2), keepdims=True)
    scaled = np.divide(cams, peaks, out=np.zeros_like(cams), where=peaks > 0)
    resized = [np.asarray(Image.fromarray(cam.astype(np.float32), mode="F").resize(size[::-1], Image.BILINEAR))
               for cam in scaled]
    return np.clip(np.stack(resized), 0.0, 1.0)


def save_explanation(path: Path, image: np.ndarray, heat_map: np.ndarray, title: str) -> Path:
    """The X-ray beside itself under the heat map, as one PNG, written atomically.

    Args:
        path: the PNG to write.
        image: the X-ray (S, S, 3), pixel values in 0..255.
        heat_map: its heat map (S, S) in 0..1.
        title: the picture's title (`explanation_title`).

    Returns:
        `path`.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (plain, overlay) = plt.subplots(1, 2, figsize=(7.2, 3.9))
    grey = np.asarray(image, dtype=np.float32).mean(axis=-1)
    for axes in (plain, overlay):
        axes.imshow(grey, cmap="gray", vmin=0, vmax=255)
        axes.axis("off")
    shown = overlay.imshow(heat_map, cmap="jet", alpha=0.45, vmin=0, vmax=1)
    figure.colorbar(shown, ax=overlay, fraction=0.046, pad=0.02, label="Grad-CAM: evidence for PNEUMONIA")
    figure.suptitle(title, fontsize=9)
    figure.tight_layout()
    with atomic_path(path) as temporary:
        figure.savefig(temporary, dpi=110, format="png")
    plt.close(figure)
    return path


def explanation_title(name: str, probability: float, threshold: float, truth: str | None = None) -> str:
    """A picture's title: the file, its probability, the threshold, the label given and (if known) the truth."""
    label = "PNEUMONIA" if probability >= threshold else "NORMAL"
    known = "" if truth is None else f" · true {truth}"
    return f"{name}\nP(PNEUMONIA) {probability:.3f} · threshold {threshold:.3g} → {label}{known}"


def explain_images(model, images: np.ndarray, names: list[str], threshold: float, folder: Path,
                   truths: list[str] | None = None, prefixes: list[str] | None = None) -> list[Path]:
    """One explanation PNG per image in `folder`, named `<stem>.gradcam.png` (made unique).

    Args:
        model: a model on images (see `GradCam`).
        images: (N, S, S, 3), pixel values in 0..255.
        names: each image's file name, for its picture's name and title.
        threshold: the threshold in use, for the titles.
        folder: where the pictures go.
        truths: each image's true class name, if known.
        prefixes: a prefix for each picture's name (e.g. "fp00-").

    Returns:
        The pictures' paths, in the images' order.

    Raises:
        ValueError: as `GradCam`.
    """
    heat_maps, probabilities = GradCam(model)(images)
    paths, taken = [], set()
    for index, name in enumerate(names):
        stem = (prefixes[index] if prefixes else "") + Path(name).stem
        unique, count = stem, 1
        while unique in taken:
            count += 1
            unique = f"{stem}-{count}"
        taken.add(unique)
        title = explanation_title(name, float(probabilities[index]), threshold, truths[index] if truths else None)
        paths.append(save_explanation(folder / f"{unique}.gradcam.png", images[index], heat_maps[index], title))
    return paths
