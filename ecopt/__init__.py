"""ECOpt: tune models for performance and measured energy efficiency at once.

Importing ``ecopt`` is cheap: torch, CodeCarbon and Ax load only in the modules
that need them, so workflow rules and trial jobs start fast. ``ecopt.optimize``
(the plain-function API) is resolved on first use for the same reason.
"""

from typing import Any

__version__ = "0.1.0"
__all__ = ["optimize"]


def __getattr__(name: str) -> Any:
    if name == "optimize":
        from ecopt.function_api import optimize

        return optimize
    raise AttributeError(f"module 'ecopt' has no attribute {name!r}")
