"""Helpers that build tiny dataset trees in each source's real layout (tests and demo)."""

from refmatte.testing.layouts import BUILDERS, Fixture, build_all, build_layout

__all__ = ["BUILDERS", "Fixture", "build_all", "build_layout"]
