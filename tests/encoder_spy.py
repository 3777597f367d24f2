"""A spy on a module's kept JSON encoder (its ``_dumps``), for the tests of texts written by hand.

Those tests show that a text is *not* given to the encoder again (the point of writing it by
hand), so they need every value the encoder was asked for while the code under test ran.
"""

from __future__ import annotations

from types import ModuleType

import pytest


def record_encodes(patch: pytest.MonkeyPatch, module: ModuleType) -> list[object]:
    """Wrap ``module._dumps`` (undone with ``patch``); the list fills with each value encoded."""
    encoded: list[object] = []
    dumps = module._dumps

    def recording(value: object) -> str:
        encoded.append(value)
        text: str = dumps(value)
        return text

    patch.setattr(module, "_dumps", recording)
    return encoded
