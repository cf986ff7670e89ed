"""The byzfl fixture for the cross-checks (see ``fedarena.oracles``)."""

from __future__ import annotations

import pytest

from fedarena.oracles import import_byzfl


@pytest.fixture(scope="session")
def byzfl():
    """The byzfl package, or a skip saying how to install it."""
    module = import_byzfl()
    if module is None:
        pytest.skip("byzfl is not installed (test-only: pip install --no-deps byzfl)")
    return module
