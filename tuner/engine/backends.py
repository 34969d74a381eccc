"""The few things that differ per Keras backend: deterministic ops, the device's name, a gradient.

Model and training code stays backend-agnostic; this module is the one place that names a
framework, and imports it only when that framework is the backend in use.
"""

from __future__ import annotations

import importlib.util
import os
import platform
from pathlib import Path

XLA_CACHE_BYTES = 2 * 2**30


def enable_determinism() -> None:
    """Ask the backend for deterministic operations (slower; see the README's GPU caveats).

    Call it before the backend starts computing: JAX reads its flag only when it starts.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif backend == "jax":
        # XLA's GPU reductions are deterministic only with this flag; it must be set before JAX starts.
        os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_gpu_deterministic_ops=true").strip()
    elif backend == "torch":
        import torch

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True)


def reuse_compiled_functions(directory: Path) -> None:
    """Keep the compiled programs of every step in `directory`, under JAX.

    Each trial builds a new model, so JAX would compile its training and prediction steps again, though
    trials of one architecture (a Hyperband trial and the one it continues; heads that differ only in
    learning rate) give the same XLA program. XLA's persistent cache finds it by the program's hash: one
    compile per architecture for the whole search, and none when a search resumes or repeats. TensorFlow
    traces each model's functions anew (seconds on a CPU, where it does not use XLA).

    JAX sets its cache up once per process: a second search in the same process (a notebook) keeps the
    first one's folder. With `filelock` installed (the `jax` extra), JAX locks the entries, so workers can
    share the folder, and drops the least recently used beyond XLA_CACHE_BYTES.

    Args:
        directory: the cache folder (a search passes `<cache-dir>/xla`). Nothing happens on other backends.
    """
    import keras

    if keras.backend.backend() != "jax":
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)  # also the quick compiles (a head's on a CPU)
    if importlib.util.find_spec("filelock") is not None:  # without it JAX refuses a size limit
        jax.config.update("jax_compilation_cache_max_size", XLA_CACHE_BYTES)


def device_name() -> str:
    """The accelerator Keras will use, in words.

    Returns:
        "GPU: <name>" for the backend's first GPU, else "CPU (<processor>, <n> cores)"; a device query
        that fails counts as no GPU.
    """
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return f"GPU: {details.get('device_name', gpus[0].name)}"
        elif backend == "jax":
            import jax

            device = jax.devices()[0]
            if device.platform != "cpu":
                return f"GPU: {device.device_kind}"
        elif backend == "torch":
            import torch

            if torch.cuda.is_available():
                return f"GPU: {torch.cuda.get_device_name(0)}"
    except Exception:  # noqa: BLE001 - a device query must never stop a search
        pass
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def on_accelerator() -> bool:
    """Whether Keras computes on a GPU."""
    return device_name().startswith("GPU")


def keeps_inputs_on_device(nbytes: int) -> bool:
    """Whether a search copies its training inputs into the accelerator's memory once, to gather every batch there.

    Only on JAX with a GPU. Keras' TensorFlow trainer feeds a PyDataset through tf.data on the host whatever
    it holds (and the PyTorch path is untried), so there, and on a CPU, batches are read from the host arrays.

    Args:
        nbytes: the size of the training and validation inputs together.

    Returns:
        True on JAX with a GPU when `nbytes` is at most half of the GPU's memory, else False.
    """
    import keras

    if keras.backend.backend() != "jax":
        return False
    import jax

    device = jax.devices()[0]
    if device.platform == "cpu":
        return False
    limit = (device.memory_stats() or {}).get("bytes_limit", 0)
    return nbytes <= limit / 2


def input_gradient(function, inputs):
    """The gradient of `function(inputs).sum()` with respect to `inputs`, on whichever backend Keras runs.

    What Grad-CAM needs (`evaluation/explain.py`).

    Args:
        function: maps a backend tensor to a backend tensor (Keras layers and ops).
        inputs: a NumPy array.

    Returns:
        The gradient as a NumPy array of the shape of `inputs`.

    Raises:
        NotImplementedError: the Keras backend is not TensorFlow, JAX or PyTorch.
    """
    import keras
    import numpy as np

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensor = tf.convert_to_tensor(inputs)
        with tf.GradientTape() as tape:
            tape.watch(tensor)
            total = tf.reduce_sum(function(tensor))
        return tape.gradient(total, tensor).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(lambda x: function(x).sum())(inputs))
    if backend == "torch":
        import torch

        tensor = torch.tensor(inputs, requires_grad=True)
        function(tensor).sum().backward()
        return tensor.grad.detach().cpu().numpy()
    raise NotImplementedError(f"no gradients on the {backend} backend")
