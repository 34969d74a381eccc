"""Evaluation: the one counted test-set run, prediction on new images, and the statistics of both."""
