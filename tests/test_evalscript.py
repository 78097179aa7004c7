"""The evalscript runtime with real V8 (mini-racer) in spawned worker processes: setup, evaluatePixel over
hand-made pixels, sampleType rounding/clamping, the dataMask output rule, ORBIT mosaicking, script errors,
and the sandbox limits (endless loop, heap and ArrayBuffer memory bombs) with the pool serving afterwards."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fis.core import stats
from fis.core.bands import BANDS
from fis.engine.evalscript import (
    EvalscriptError,
    EvalscriptResourceError,
    EvalscriptSandbox,
    EvalscriptTimeout,
    OutputSpec,
    ScriptSetup,
)

TIMEOUT_S = 3.0
# the reference scenes in ../shared/data/s2-reference/reference_scenes.npy, in their order
REFERENCE_ACQUISITIONS = (
    "2015-08-20T10:07:28",
    "2015-07-31T10:00:09",
    "2015-09-09T10:00:17",
    "2015-08-30T10:05:47",
    "2015-07-11T10:00:08",
)

# The seed's recipe: NDVI and CLM per pixel, dataMask masking both.
NDVI_CLM = """//VERSION=3
function setup() {
  return {
    input: [{bands: ["B04", "B08", "CLM", "dataMask"]}],
    output: [{id: "ndvi", bands: 1, sampleType: "FLOAT32"}, {id: "clm", bands: 1}, {id: "dataMask", bands: 1}]
  };
}
function evaluatePixel(s) {
  return {ndvi: [index(s.B08, s.B04)], clm: [s.CLM], dataMask: [s.dataMask]};
}
"""

# Four pixels: NDVI 0.5, 0, 0/0 (no data), 0.8; the third has dataMask 0.
PIXELS = {
    "B04": np.array([0.1, 0.2, 0.0, 0.05]),
    "B08": np.array([0.3, 0.2, 0.0, 0.45]),
    "CLM": np.array([0.0, 1.0, 0.0, 1.0]),
    "dataMask": np.array([1.0, 1.0, 0.0, 1.0]),
}


def one_output(body: str, sample_type: str = "FLOAT32", bands: str = "1", inputs: str = '["B04"]') -> str:
    return f"""//VERSION=3
function setup() {{
  return {{input: {inputs}, output: {{id: "out", bands: {bands}, sampleType: "{sample_type}"}}}};
}}
function evaluatePixel(s) {{
  {body}
}}
"""


@pytest.fixture(scope="module")
def sandbox() -> Iterator[EvalscriptSandbox]:
    with EvalscriptSandbox(processes=2, timeout_s=TIMEOUT_S, heap_mb=64, address_space_mb=256) as box:
        yield box


def run(sandbox: EvalscriptSandbox, script: str, pixels: dict[str, np.ndarray]) -> tuple[ScriptSetup, object]:
    setup = sandbox.setup(script)
    return setup, sandbox.evaluate(script, setup, pixels)


def test_setup_of_the_ndvi_clm_script(sandbox: EvalscriptSandbox) -> None:
    assert sandbox.setup(NDVI_CLM) == ScriptSetup(
        inputs=("B04", "B08", "CLM", "dataMask"),
        units="REFLECTANCE",
        outputs=(
            OutputSpec("ndvi", 1, None, "FLOAT32"),
            OutputSpec("clm", 1, None, "FLOAT32"),
            OutputSpec("dataMask", 1, None, "FLOAT32"),
        ),
        mosaicking="SIMPLE",
    )


def test_ndvi_clm_values_and_data_mask(sandbox: EvalscriptSandbox) -> None:
    setup = sandbox.setup(NDVI_CLM)
    result = sandbox.evaluate(NDVI_CLM, setup, PIXELS)
    ndvi = result.values["ndvi"]
    assert ndvi.shape == (4, 1)
    # FLOAT32: float32 precision; (0.45 - 0.05) / 0.5 is 0.8 in float32
    assert ndvi[0, 0] == 0.5
    assert ndvi[1, 0] == 0.0
    assert np.isnan(ndvi[2, 0])
    assert ndvi[3, 0] == float(np.float32(0.8))
    assert result.values["clm"][:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]
    # the one-band dataMask output masks every output
    for output_id in ("ndvi", "clm"):
        assert result.valid[output_id].tolist() == [True, True, False, True]


def test_units_band_list_and_names(sandbox: EvalscriptSandbox) -> None:
    script = """//VERSION=3
function setup() {
  return {input: [{bands: ["B02", "B03", "B04", "B04"], units: "DN"}],
          output: [{id: "rgb", bands: ["red", "green", "blue"], sampleType: "UINT16"}, {id: "x", bands: 2}]};
}
function evaluatePixel(s) { return {rgb: [s.B04, s.B03, s.B02], x: [1, 2]}; }
"""
    setup = sandbox.setup(script)
    assert setup.inputs == ("B02", "B03", "B04")
    assert setup.units == "DN"
    assert setup.outputs[0].names == ("red", "green", "blue")
    assert setup.outputs[1].names == ("B0", "B1")
    result = sandbox.evaluate(
        script, setup, {"B02": np.array([1.0, 2.0]), "B03": np.array([3.0, 4.0]), "B04": np.array([5.0, 6.4])}
    )
    assert result.values["rgb"].tolist() == [[5.0, 3.0, 1.0], [6.0, 4.0, 2.0]]
    assert result.values["x"].tolist() == [[1.0, 2.0], [1.0, 2.0]]
    # no dataMask output: every pixel counts
    assert result.valid["rgb"].tolist() == [True, True]


@pytest.mark.parametrize(
    ("sample_type", "expected"),
    [
        # rounded half up, clamped to the type's range, NaN -> 0
        ("UINT8", [0, 0, 1, 2, 255, 255, 0]),
        ("UINT16", [0, 0, 1, 2, 255, 300, 0]),
        ("INT8", [-3, 0, 1, 2, 127, 127, 0]),
        ("INT16", [-3, 0, 1, 2, 255, 300, 0]),
        # AUTO stretches 0..1 to 0..255
        ("AUTO", [0, 102, 128, 255, 255, 255, 0]),
    ],
)
def test_sample_type_rounding_and_clamping(sandbox: EvalscriptSandbox, sample_type: str, expected: list[int]) -> None:
    values = np.array([-3.0, 0.4, 0.5, 1.5, 254.5, 300.0, np.nan])
    _, result = run(sandbox, one_output("return [s.B04];", sample_type), {"B04": values})
    assert result.values["out"][:, 0].tolist() == expected  # type: ignore[attr-defined]


def test_float32_keeps_nan_and_infinity_at_float32_precision(sandbox: EvalscriptSandbox) -> None:
    script = one_output("return [s.B04 === 0 ? 1 / 0 : s.B04 + 0.1];")
    _, result = run(sandbox, script, {"B04": np.array([0.0, 0.2, np.nan])})
    out = result.values["out"][:, 0]  # type: ignore[attr-defined]
    assert out[0] == np.inf
    assert out[1] == float(np.float32(0.2 + 0.1))
    assert np.isnan(out[2])


def test_array_return_and_object_return_agree(sandbox: EvalscriptSandbox) -> None:
    pixels = {"B04": np.array([0.25, 0.5])}
    _, as_array = run(sandbox, one_output("return [s.B04 * 2, true];", bands="2"), pixels)
    _, as_object = run(sandbox, one_output("return {out: [s.B04 * 2, true]};", bands="2"), pixels)
    assert as_array.values["out"].tolist() == [[0.5, 1.0], [1.0, 1.0]]  # type: ignore[attr-defined]
    assert as_object.values["out"].tolist() == [[0.5, 1.0], [1.0, 1.0]]  # type: ignore[attr-defined]


def test_per_output_data_masks(sandbox: EvalscriptSandbox) -> None:
    script = """//VERSION=3
function setup() {
  return {input: ["B04", "B08", "CLM", "dataMask"],
          output: [{id: "bands", bands: ["red", "nir"]}, {id: "ndvi", bands: 1}, {id: "dataMask", bands: ["bands", "ndvi"]}]};
}
function evaluatePixel(s) {
  const clear = s.dataMask === 1 && s.CLM === 0;
  return {bands: [s.B04, s.B08], ndvi: [index(s.B08, s.B04)], dataMask: [s.dataMask, clear ? 1 : 0]};
}
"""
    _, result = run(sandbox, script, PIXELS)
    assert result.valid["bands"].tolist() == [True, True, False, True]  # type: ignore[attr-defined]
    assert result.valid["ndvi"].tolist() == [True, False, False, False]  # type: ignore[attr-defined]


def test_helpers(sandbox: EvalscriptSandbox) -> None:
    script = one_output(
        "return [index(s.B04, 1), valueInterpolate(s.B04, [0, 1], [10, 20]), "
        "colorBlend(s.B04, [0, 1], [[0, 0], [100, 10]])[1], combine([s.B04], [1], 0.25)[0]];",
        bands="4",
    )
    _, result = run(sandbox, script, {"B04": np.array([0.5])})
    # (0.5-1)/(0.5+1), 10 + 0.5*10, 0 + 0.5*10, 0.5*0.25 + 1*0.75
    assert result.values["out"][0].tolist() == [float(np.float32(-1 / 3)), 15.0, 5.0, 0.875]  # type: ignore[attr-defined]


def test_orbit_samples_per_acquisition(sandbox: EvalscriptSandbox) -> None:
    script = """//VERSION=3
function setup() {
  return {input: ["B04", "dataMask"], output: [{id: "mean", bands: 1}, {id: "n", bands: 2}], mosaicking: "ORBIT"};
}
function evaluatePixel(samples, scenes) {
  let sum = 0, count = 0;
  for (const s of samples) { if (s.dataMask === 1) { sum += s.B04; count++; } }
  return {mean: [count ? sum / count : NaN], n: [samples.length, scenes[samples.length - 1].date.getUTCDate()]};
}
"""
    setup = sandbox.setup(script)
    assert setup.mosaicking == "ORBIT"
    samples = [
        {"B04": np.array([0.25, 0.5]), "dataMask": np.array([1.0, 1.0])},
        {"B04": np.array([0.75, 0.0]), "dataMask": np.array([1.0, 0.0])},
        {"B04": np.array([0.5, 0.25]), "dataMask": np.array([1.0, 1.0])},
    ]
    scenes = [{"date": "2024-05-01T10:00:00Z"}, {"date": "2024-05-04T10:00:00Z"}, {"date": "2024-05-06T10:00:00Z"}]
    result = sandbox.evaluate_orbit(script, setup, samples, scenes)
    assert result.values["mean"][:, 0].tolist() == [0.5, 0.375]
    assert result.values["n"].tolist() == [[3.0, 6.0], [3.0, 6.0]]

    # preProcessScenes may drop acquisitions: the samples follow
    dropping = (
        script
        + """
function preProcessScenes(collections) {
  collections.scenes.orbits = collections.scenes.orbits.filter(o => o.dateFrom !== "2024-05-06T10:00:00Z");
  return collections;
}
"""
    )
    result = sandbox.evaluate_orbit(dropping, sandbox.setup(dropping), samples, scenes)
    assert result.values["mean"][:, 0].tolist() == [0.5, 0.5]
    assert result.values["n"].tolist() == [[2.0, 4.0], [2.0, 4.0]]


def test_script_context_is_compiled_once_per_worker_and_scope() -> None:
    # a top-level counter keeps counting across calls of one scope: the worker reused the compiled script;
    # another scope (another request) gets a fresh context, so no state passes between requests
    script = "//VERSION=3\nvar calls = 0;\n" + one_output("calls++; return [calls];").split("\n", 1)[1]
    with EvalscriptSandbox(processes=1, timeout_s=TIMEOUT_S) as box:
        setup = box.setup(script)
        first = box.evaluate(script, setup, {"B04": np.zeros(3)}, scope="request-1")
        second = box.evaluate(script, setup, {"B04": np.zeros(2)}, scope="request-1")
        other = box.evaluate(script, setup, {"B04": np.zeros(2)}, scope="request-2")
    assert first.values["out"][:, 0].tolist() == [1.0, 2.0, 3.0]
    assert second.values["out"][:, 0].tolist() == [4.0, 5.0]
    assert other.values["out"][:, 0].tolist() == [1.0, 2.0]


def test_syntax_error_names_the_line(sandbox: EvalscriptSandbox) -> None:
    script = """//VERSION=3
function setup() {
  return {input: ["B04"], output: {bands: 1}};
}
function evaluatePixel(s) {
  return [s.B04 +* 2];
}
"""
    with pytest.raises(EvalscriptError) as caught:
        sandbox.setup(script)
    assert caught.value.status == 400
    assert caught.value.code == "evalscript_error"
    assert "line 6: SyntaxError: Unexpected token '*'" in caught.value.message


def test_thrown_exception_is_a_script_error(sandbox: EvalscriptSandbox) -> None:
    script = one_output('if (s.B04 > 0.3) {\n    throw new Error("too bright: " + s.B04);\n  }\n  return [s.B04];')
    setup = sandbox.setup(script)
    with pytest.raises(EvalscriptError) as caught:
        sandbox.evaluate(script, setup, {"B04": np.array([0.1, 0.5])})
    assert "line 7: Error: too bright: 0.5" in caught.value.message


@pytest.mark.parametrize(
    ("script", "message"),
    [
        (one_output("return [1, 2];"), 'evaluatePixel returned 2 value(s) for output "out", which has 1 band(s)'),
        (one_output("return {other: [1]};"), 'evaluatePixel did not return output "out" as an array of 1 value(s)'),
        (one_output("return 3;"), "evaluatePixel must return an object {out} of arrays (or one array), got number"),
        (
            NDVI_CLM.replace(
                "return {ndvi: [index(s.B08, s.B04)], clm: [s.CLM], dataMask: [s.dataMask]}", "return [1]"
            ),
            "evaluatePixel returned an array but setup() declares 3 outputs",
        ),
    ],
)
def test_wrong_results_are_script_errors(sandbox: EvalscriptSandbox, script: str, message: str) -> None:
    setup = sandbox.setup(script)
    with pytest.raises(EvalscriptError, match=message.replace("(", r"\(").replace(")", r"\)").replace("{", r"\{")):
        sandbox.evaluate(script, setup, PIXELS)


@pytest.mark.parametrize(
    ("script", "message"),
    [
        ("function setup() {}", "only evalscript V3 is supported"),
        ("//VERSION=3\nfunction evaluatePixel(s) { return [1]; }", "must define function setup()"),
        (
            "//VERSION=3\nfunction setup() { return {input: ['B04'], output: {bands: 1}}; }",
            "must define function evaluatePixel",
        ),
        (one_output("return [1];", inputs='["B04", "NDVI"]'), "band 'NDVI' is not available"),
        (one_output("return [1];", sample_type="UINT32"), "sampleType must be one of AUTO, UINT8"),
        (one_output("return [1];", bands="0"), "bands must be between 1 and 64"),
        (
            one_output("return [1];", inputs='[{bands: ["B04"], units: "DN"}, {bands: ["B08"], units: "REFLECTANCE"}]'),
            "mixes REFLECTANCE and DN",
        ),
        (
            NDVI_CLM.replace('{id: "dataMask", bands: 1}', '{id: "dataMask", bands: 2}'),
            "name its bands after the outputs",
        ),
    ],
)
def test_bad_setup_is_a_script_error(sandbox: EvalscriptSandbox, script: str, message: str) -> None:
    with pytest.raises(EvalscriptError, match=message.replace("(", r"\(").replace(")", r"\)")):
        sandbox.setup(script)


def test_endless_loop_times_out_and_the_pool_keeps_serving(sandbox: EvalscriptSandbox) -> None:
    looping = one_output("while (true) {}\n  return [1];")
    setup = sandbox.setup(looping)
    good_setup = sandbox.setup(NDVI_CLM)
    answers: dict[str, object] = {}

    def loop() -> None:
        try:
            sandbox.evaluate(looping, setup, {"B04": np.zeros(10)}, timeout_s=2.0)
        except EvalscriptTimeout as exc:
            answers["loop"] = exc

    started = time.monotonic()
    thread = threading.Thread(target=loop)
    thread.start()
    time.sleep(0.3)
    # the other worker answers while the first one is stuck
    during = sandbox.evaluate(NDVI_CLM, good_setup, PIXELS)
    answered_during = time.monotonic() - started
    thread.join(10)
    elapsed = time.monotonic() - started
    assert isinstance(answers.get("loop"), EvalscriptTimeout)
    assert answers["loop"].status == 503  # type: ignore[attr-defined]
    assert answered_during < 2.0
    assert 2.0 <= elapsed < 2.0 + 3.0
    assert during.values["ndvi"][0, 0] == 0.5
    # and after the replacement, both workers serve
    for _ in range(3):
        assert sandbox.evaluate(NDVI_CLM, good_setup, PIXELS).values["clm"][:, 0].tolist() == [0.0, 1.0, 0.0, 1.0]


@pytest.mark.parametrize(
    "bomb",
    [
        # V8 heap: caught by the hard heap limit
        "const keep = []; while (true) { keep.push(new Array(1000000).fill(Math.random())); }",
        # ArrayBuffers live outside the heap: caught by the worker's data limit
        "const keep = []; while (true) { const b = new ArrayBuffer(32 * 1024 * 1024); new Uint8Array(b).fill(1); keep.push(b); }",
        # the ArrayBuffer failure caught, then the heap cannot grow: V8 aborts the worker
        "const keep = []; try { while (true) { keep.push(new ArrayBuffer(32 << 20)); } } catch (e) {}\n"
        "  while (true) { keep.push(new Array(100000).fill(1.5)); }",
    ],
    ids=["heap", "arraybuffer", "arraybuffer-then-heap"],
)
def test_memory_bombs_fail_and_the_pool_keeps_serving(sandbox: EvalscriptSandbox, bomb: str) -> None:
    script = one_output(bomb + "\n  return [1];")
    setup = sandbox.setup(script)
    started = time.monotonic()
    with pytest.raises(EvalscriptResourceError) as caught:
        sandbox.evaluate(script, setup, {"B04": np.zeros(4)})
    assert time.monotonic() - started < TIMEOUT_S + 2.0
    assert caught.value.status == 503
    good = sandbox.evaluate(NDVI_CLM, sandbox.setup(NDVI_CLM), PIXELS)
    assert good.values["ndvi"][0, 0] == 0.5


def test_many_threads_share_the_pool(sandbox: EvalscriptSandbox) -> None:
    setup = sandbox.setup(NDVI_CLM)
    results: list[float] = []
    lock = threading.Lock()

    def call(k: int) -> None:
        pixels = {**PIXELS, "B08": PIXELS["B08"] * 0 + 0.1 * k, "B04": PIXELS["B04"] * 0}
        value = sandbox.evaluate(NDVI_CLM, setup, pixels).values["ndvi"][0, 0]
        with lock:
            results.append(value)

    threads = [threading.Thread(target=call, args=(k,)) for k in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    # NDVI of (nir, red=0) is 1 for every nir > 0
    assert results == [1.0] * 8


def test_missing_input_is_refused(sandbox: EvalscriptSandbox) -> None:
    setup = sandbox.setup(NDVI_CLM)
    with pytest.raises(ValueError, match="lack the input 'CLM'"):
        sandbox.evaluate(NDVI_CLM, setup, {k: v for k, v in PIXELS.items() if k != "CLM"})


def test_a_worker_that_dies_mid_call_is_replaced() -> None:
    looping = one_output("while (true) {}\n  return [1];")
    with EvalscriptSandbox(processes=1, timeout_s=10.0) as box:
        setup = box.setup(looping)
        (worker,) = box._workers  # the only worker, killed from outside while it runs the loop
        killer = threading.Timer(0.5, worker.process.kill)
        killer.start()
        started = time.monotonic()
        with pytest.raises(EvalscriptResourceError, match="worker stopped"):
            box.evaluate(looping, setup, {"B04": np.zeros(2)})
        assert time.monotonic() - started < 5.0
        result = box.evaluate(NDVI_CLM, box.setup(NDVI_CLM), PIXELS)
    assert result.values["ndvi"][0, 0] == 0.5


@pytest.mark.parametrize(
    "script",
    [
        # at the top level of the script (compiling it runs it)
        "//VERSION=3\nwhile (true) {}\n" + one_output("return [1];").split("\n", 1)[1],
        # in a Promise job, which V8 runs after the call would have answered
        one_output("(async () => { await 0; while (true) {} })();\n  return [1];"),
    ],
    ids=["top-level", "promise-job"],
)
def test_loops_outside_evaluate_pixel_time_out(sandbox: EvalscriptSandbox, script: str) -> None:
    started = time.monotonic()
    with pytest.raises(EvalscriptTimeout):
        setup = sandbox.setup(script)
        sandbox.evaluate(script, setup, {"B04": np.zeros(2)}, timeout_s=1.5)
    assert time.monotonic() - started < TIMEOUT_S + 2.0
    assert sandbox.evaluate(NDVI_CLM, sandbox.setup(NDVI_CLM), PIXELS).values["ndvi"][0, 0] == 0.5


def test_top_level_loop_with_a_large_payload_times_out(sandbox: EvalscriptSandbox) -> None:
    # 8 MB of inputs is more than a pipe holds: the worker reads them before running the script's top level
    looping = "//VERSION=3\nwhile (true) {}\n" + one_output("return [1];").split("\n", 1)[1]
    setup = sandbox.setup(one_output("return [1];"))
    started = time.monotonic()
    with pytest.raises(EvalscriptTimeout):
        sandbox.evaluate(looping, setup, {"B04": np.zeros(1_000_000)}, timeout_s=1.5)
    assert time.monotonic() - started < TIMEOUT_S + 2.0


def test_no_timers_or_webassembly(sandbox: EvalscriptSandbox) -> None:
    script = one_output(
        'return [typeof setTimeout === "undefined" && typeof WebAssembly === "undefined" && '
        'typeof FinalizationRegistry === "undefined" && typeof Atomics.waitAsync === "undefined"];'
    )
    _, result = run(sandbox, script, {"B04": np.zeros(1)})
    assert result.values["out"].tolist() == [[1.0]]  # type: ignore[attr-defined]


@pytest.mark.reference
def test_real_sentinel2_ndvi_matches_fis_and_sentinel_hub(sandbox: EvalscriptSandbox, shared_data: Path) -> None:
    """The seed's script on the real reference scenes: exactly fis's own NDVI at float32, and Sentinel Hub's
    NDVI for the same acquisitions to within 2 float32 units in the last place."""
    folder = shared_data / "s2-reference"
    scenes = np.load(folder / "reference_scenes.npy")
    sh_ndvi = np.load(folder / "sh_ndvi.npy")[..., 0]
    timestamps = json.loads((folder / "timestamps.json").read_text())
    setup = sandbox.setup(NDVI_CLM)
    for k, acquired in enumerate(REFERENCE_ACQUISITIONS):
        red = scenes[k, ..., BANDS.index("B04")].astype(np.float64).ravel()
        nir = scenes[k, ..., BANDS.index("B08")].astype(np.float64).ravel()
        ones = np.ones(red.size)
        result = sandbox.evaluate(NDVI_CLM, setup, {"B04": red, "B08": nir, "CLM": 0 * ones, "dataMask": ones})
        ours = result.values["ndvi"][:, 0]
        assert np.array_equal(ours, stats.ndvi(red, nir).astype(np.float32).astype(np.float64)), acquired
        theirs = sh_ndvi[timestamps.index(acquired)].astype(np.float64).ravel()
        assert np.abs(ours - theirs).max() <= 1.2e-7, acquired
        assert result.valid["ndvi"].all()


def test_a_worker_that_died_while_idle_is_replaced_without_failing_the_call() -> None:
    with EvalscriptSandbox(processes=1, timeout_s=TIMEOUT_S) as box:
        setup = box.setup(NDVI_CLM)
        (worker,) = box._workers
        worker.process.kill()
        worker.process.join(5)
        result = box.evaluate(NDVI_CLM, setup, PIXELS)
        assert box._workers and worker not in box._workers
    assert result.values["ndvi"][0, 0] == 0.5
