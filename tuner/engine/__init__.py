"""The search engine: the Keras Tuner integration (hypermodels, the tuner subclass, callbacks, patches),
the objective, trial records, resume, the fine-tuning stage and distributed mode."""
