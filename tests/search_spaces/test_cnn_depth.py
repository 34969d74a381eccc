"""The cnn_depth space: a CNN of 2-6 blocks that builds on 32 px images."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import fixed_hp, layers_of

from search_spaces.cnn_depth import CnnDepth

# --- cnn_depth --------------------------------------------------------------------------


@pytest.mark.parametrize("blocks", [2, 6])
def test_cnn_depth_builds_at_any_depth_on_32_px(blocks):
    hp = fixed_hp(
        CnnDepth,
        {
            "blocks": blocks,
            "filters": 64,
            "filter_growth": 1.5,
            "kernel_size": 5,
            "batch_norm": True,
            "pooling": "global_average",
            "dense_units": 64,
            "dropout": 0.0,
            "learning_rate": 3e-4,
        },
    )
    model = CnnDepth(32).build(hp)
    assert model.output.shape == (None, 1)
    filters = [layer.filters for layer in layers_of(model, keras.layers.Conv2D)]
    assert filters == [64, 96, 144, 216, 256, 256][:blocks]
    assert len(layers_of(model, keras.layers.BatchNormalization)) == blocks
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    probabilities = model.predict(images, verbose=0)
    assert probabilities.shape == (2, 1) and np.all((probabilities >= 0) & (probabilities <= 1))
