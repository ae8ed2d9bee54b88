"""Errors raised by ``winnow.models``. Each message names the file and says what to do."""


class WinnowModelError(Exception):
    """A model or its manifest is missing, corrupt or inconsistent."""


class TrainingError(Exception):
    """Training could not run or produced no model."""


class ToolNotFoundError(TrainingError):
    """An external training tool (lmplz, build_binary) is missing."""


class UsageError(ValueError):
    """A bad option, argument or input named by the user; the message says what to fix.
    (A ValueError, so code that caught one before still does.)"""
