"""Reporting: rich tables, exports and plots of runs. Imports no Keras."""
