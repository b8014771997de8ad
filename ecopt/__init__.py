"""ECOpt: tune models for performance and measured energy efficiency at once.

Importing ``ecopt`` is cheap: torch, CodeCarbon and Ax load only in the modules
that need them, so workflow rules and trial jobs start fast.
"""

__version__ = "0.1.0"
