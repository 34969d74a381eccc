"""engine/backends.py: compiled steps reused across trials of one architecture (JAX)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import pytest

pytestmark = pytest.mark.slow  # trains three heads in a Python process

# Three heads trained one after another, as three trials would be: two of one architecture that differ
# only in learning rate (new model objects, new weights), and one with another width.
TRIALS = textwrap.dedent("""
    import sys
    from pathlib import Path

    import keras
    import keras_tuner
    import numpy as np

    from search_spaces.mobilenet_head import MobileNetHead
    from tuner.engine.backends import reuse_compiled_functions

    reuse_compiled_functions(Path(sys.argv[1]))
    space = MobileNetHead(image_size=32, weights=None)
    features = np.random.default_rng(0).random((64, *space.feature_shape), dtype=np.float32)
    labels = np.arange(64) % 2
    for units, learning_rate in [(32, 1e-3), (32, 1e-4), (64, 1e-3)]:
        hp = keras_tuner.HyperParameters()
        hp.Fixed("pooling", "flatten"), hp.Fixed("hidden_layers", 1), hp.Fixed("units_1", units)
        hp.Fixed("learning_rate", learning_rate)
        space.build_head(hp).fit(features, labels, batch_size=32, epochs=1, verbose=0)
""")


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="XLA's persistent cache is JAX's")
def test_trials_of_one_architecture_compile_their_training_step_once(tmp_path):
    cache = tmp_path / "xla"
    subprocess.run([sys.executable, "-c", TRIALS, str(cache)], check=True, timeout=300)
    assert cache.is_dir(), "no compiled program was kept"
    train_steps = sorted(path.name for path in cache.iterdir()
                         if path.name.startswith("jit_train_step") and path.name.endswith("-cache"))
    assert len(train_steps) == 2, train_steps  # one per architecture, not one per trial
