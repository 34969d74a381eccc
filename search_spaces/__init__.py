"""The search spaces: one module per space's hypermodel, and what the rest of the toolkit asks of them.

- `registry`: the spaces by name, what each can do and its flag defaults (no Keras; a new space is one module
  and one line there);
- `hyperparameters`: every space's hyperparameters, declared without Keras;
- `reference`: the shipped reference points and reading a hyperparameter file against its space;
- `display`: the spaces and their ranges as text;
- `cnn_depth`, `mobilenet_head` (with `augmentation`, `weights`): the hypermodels, which import Keras.
"""
