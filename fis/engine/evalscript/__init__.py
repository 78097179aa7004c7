"""Sentinel Hub evalscripts (V3) run in V8, vectorised over a date's pixels, in sandboxed worker processes.

The public interface::

    sandbox = EvalscriptSandbox(processes=2, timeout_s=60.0, heap_mb=256, address_space_mb=1024)
    setup = sandbox.setup(script)                          # ScriptSetup: inputs, units, outputs, mosaicking
    result = sandbox.evaluate(script, setup, pixels, scope=request_id)   # SIMPLE: {band: (n,) float64}
    result = sandbox.evaluate_orbit(script, setup, samples, scenes)     # ORBIT: one dict per acquisition
    result.values["ndvi"]   # (n, bands) float64 after sampleType rounding/clamping
    result.valid["ndvi"]    # (n,) bool: the pixels that count under the dataMask output rule
    sandbox.close()

Each call takes ``timeout_s=`` (default: the sandbox's) and ``scope=`` (calls of one scope share the
compiled script and its globals; default one shared scope). ``setup.output(id).names`` are the band
names (``B0``, ``B1``, ... when ``bands`` is a number).

``spec`` holds the checked setup and the sampleType / dataMask rules (no V8), ``pool`` the process
pool, ``worker`` the code that runs in each worker, ``js`` the JavaScript runner and helpers. Errors:
:class:`EvalscriptError` (400, the script's fault), :class:`EvalscriptTimeout` and
:class:`EvalscriptResourceError` (503, retryable). See docs/evalscripts.md.
"""

from fis.engine.evalscript.errors import EvalscriptError, EvalscriptResourceError, EvalscriptTimeout
from fis.engine.evalscript.pool import EvalscriptSandbox
from fis.engine.evalscript.spec import (
    DATA_MASK,
    KNOWN_BANDS,
    EvaluatedPixels,
    OutputSpec,
    ScriptSetup,
    apply_sample_type,
    parse_setup,
    validity_masks,
)

__all__ = [
    "DATA_MASK",
    "KNOWN_BANDS",
    "EvalscriptError",
    "EvalscriptResourceError",
    "EvalscriptSandbox",
    "EvalscriptTimeout",
    "EvaluatedPixels",
    "OutputSpec",
    "ScriptSetup",
    "apply_sample_type",
    "parse_setup",
    "validity_masks",
]
