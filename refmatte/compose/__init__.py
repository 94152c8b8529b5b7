"""`refmatte compose`: the composition engine of paper section 3.2 (plan, render, run)."""

from refmatte.compose.plan import ComposeOptions, plan_split
from refmatte.compose.run import ComposeSummary, compose

__all__ = ["ComposeOptions", "ComposeSummary", "compose", "plan_split"]
