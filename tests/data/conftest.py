"""Fixtures of the data-layer tests."""

from __future__ import annotations

import pytest
from helpers import make_chest_xray


@pytest.fixture
def generated(tmp_path):
    """The default small generated folder (layout a: train/ and test/), fresh for each test."""
    return make_chest_xray(tmp_path / "data")
