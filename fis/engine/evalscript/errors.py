"""Errors of the evalscript runtime (part of the :mod:`fis.errors` hierarchy).

A deterministic fault of the script (syntax error, thrown exception, a bad ``setup()``, a wrong
return shape) is :class:`EvalscriptError`, a 400: running it again gives the same answer. Running
out of time or memory is :class:`EvalscriptTimeout` / :class:`EvalscriptResourceError` (503): the
worker that ran the script was replaced and the pool keeps serving; Sentinel Hub's clients retry
these (``TIMEOUT`` / ``EXECUTION_ERROR``).
"""

from __future__ import annotations

from fis.errors import FisError, InvalidInput


class EvalscriptError(InvalidInput):
    """The evalscript is wrong: it does not parse, throws, or its setup or results break the rules."""

    code = "evalscript_error"


class EvalscriptTimeout(FisError, TimeoutError):
    """The evalscript ran longer than the time limit; its worker was stopped."""

    status = 503
    code = "evalscript_timeout"


class EvalscriptResourceError(FisError, MemoryError):
    """The evalscript exceeded the memory limits (V8 heap or the worker's data limit), or its worker died."""

    status = 503
    code = "evalscript_resource_limit"
