"""Keras Tuner toolkit for pediatric chest X-ray pneumonia classification."""

__version__ = "0.1.0"
