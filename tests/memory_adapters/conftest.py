"""Shared fixtures for the memory adapter tests: an isolated MNEMOS_HOME."""

from __future__ import annotations

import pytest

# The conformance suite lives in the installed package; let pytest rewrite its
# asserts so failures show the compared values.
pytest.register_assert_rewrite("mnemos.memory_adapters.conformance")

