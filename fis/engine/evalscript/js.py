"""The JavaScript side of the runtime, evaluated in each script's V8 context before the script.

``PRELUDE`` defines Sentinel Hub's common helper functions (``index``, ``combine``,
``valueInterpolate``, ``colorBlend``), a silent ``console``, removes what could run code after a call
has answered (timers, finalizers, WebAssembly), and defines ``__fis``, the runner: the worker
writes a date's inputs into one ``Float64Array`` (``__fis.inputBuffer``), ``__fis.simple`` /
``__fis.orbit`` loop over the pixels calling ``evaluatePixel`` and return one ``Float64Array``
holding every output (output by output, ``n x bands`` each) whose ``ArrayBuffer`` goes back to
Python without a copy. The loop is generated once per (mode, inputs, outputs) so that sample
fields and output ids are constant property names (about twice as fast as a generic loop).
Errors the runner raises about the script's results start with ``FIS:``.
"""

from __future__ import annotations

ERROR_MARK = "FIS:"

PRELUDE = r"""
globalThis.index = function (a, b) { return (a - b) / (a + b); };
globalThis.combine = function (a, b, f) { return a.map(function (v, i) { return v * f + b[i] * (1 - f); }); };
globalThis.valueInterpolate = function (value, stops, values) {
  if (value <= stops[0]) return values[0];
  for (let i = 1; i < stops.length; i++) {
    if (value <= stops[i]) {
      const t = (value - stops[i - 1]) / (stops[i] - stops[i - 1]);
      return values[i - 1] + t * (values[i] - values[i - 1]);
    }
  }
  return values[values.length - 1];
};
globalThis.colorBlend = function (value, stops, colors) {
  if (value <= stops[0]) return colors[0].slice();
  for (let i = 1; i < stops.length; i++) {
    if (value <= stops[i]) {
      const t = (value - stops[i - 1]) / (stops[i] - stops[i - 1]);
      return colors[i].map(function (c, j) { return colors[i - 1][j] + t * (c - colors[i - 1][j]); });
    }
  }
  return colors[colors.length - 1].slice();
};
globalThis.console = { log: function () {}, info: function () {}, warn: function () {}, error: function () {} };
// Nothing may run after a call has answered: no timers (mini-racer installs setTimeout on Atomics.waitAsync),
// no finalizer callbacks, no WebAssembly (asynchronous compiles). Promise jobs are drained by the worker.
setTimeout = undefined;
clearTimeout = undefined;
__timer_manager = undefined;
delete Atomics.waitAsync;
delete globalThis.FinalizationRegistry;
delete globalThis.WebAssembly;

const __fis = (function () {
  "use strict";
  const F64 = Float64Array, Fn = Function, stringify = JSON.stringify, DateCtor = Date;
  const isArray = Array.isArray, isView = ArrayBuffer.isView;
  const MARK = "FIS: ";
  const loops = new Map();
  const inputMetadata = { serviceVersion: "fis", normalizationFactor: 0.0001 };
  let input = new F64(0);

  function fail(message) { throw new Error(MARK + message); }

  function describe() {
    if (typeof setup !== "function") fail("the evalscript must define function setup()");
    if (typeof evaluatePixel !== "function") fail("the evalscript must define function evaluatePixel(sample)");
    const text = stringify(setup());
    if (typeof text !== "string") fail("setup() must return an object with input and output");
    if (text.length > 1000000) fail("setup() returned more than 1 MB of JSON");
    return text;
  }

  function inputBuffer(length) {
    if (input.length !== length) input = new F64(length);
    return input.buffer;
  }

  function kind(value) {
    if (value === null) return "null";
    if (isArray(value)) return "an array";
    return typeof value === "object" ? "an object" : typeof value;
  }

  // The slow path: why result r of evaluatePixel does not fit the outputs (called only on a misfit).
  function misfit(outputs, r) {
    const ids = outputs.map(function (o) { return o[0]; }).join(", ");
    if (r === null || typeof r !== "object") {
      fail("evaluatePixel must return an object {" + ids + "} of arrays (or one array), got " + kind(r));
    }
    const asArray = isArray(r) || isView(r);
    if (asArray && outputs.length > 1) {
      fail("evaluatePixel returned an array but setup() declares " + outputs.length + " outputs: return an object {" +
           ids + "}");
    }
    for (let o = 0; o < outputs.length; o++) {
      const id = outputs[o][0], bands = outputs[o][1];
      const v = asArray ? r : r[id];
      if (v === undefined || v === null || typeof v.length !== "number") {
        fail("evaluatePixel did not return output \"" + id + "\" as an array of " + bands + " value(s), got " +
             kind(v));
      }
      if (v.length !== bands) {
        fail("evaluatePixel returned " + v.length + " value(s) for output \"" + id + "\", which has " + bands +
             " band(s)");
      }
    }
    fail("evaluatePixel returned a result that does not fit the outputs");
  }

  // One loop per (mode, inputs, outputs), generated so that every property access is a constant name.
  function loop(mode, inputs, outputs) {
    const key = stringify([mode, inputs, outputs]);
    let made = loops.get(key);
    if (made !== undefined) return made;
    const sample = function (base) {
      return "{" + inputs.map(function (name, j) {
        return stringify(name) + ": src[" + base + " + " + j + " * n + i]";
      }).join(", ") + "}";
    };
    let total = 0;
    for (let o = 0; o < outputs.length; o++) total += outputs[o][1];
    const single = outputs.length === 1;
    let body = "return function (src, n, picks, scenes) {\n" +
      "  const out = new F64(" + total + " * n), m = picks.length;\n" +
      "  for (let i = 0; i < n; i++) {\n";
    if (mode === "simple") {
      body += "    const r = evaluatePixel(" + sample("0") + ", scenes, md, {}, {});\n";
    } else {
      body += "    const samples = new Array(m);\n" +
        "    for (let a = 0; a < m; a++) { const base = picks[a]; samples[a] = " + sample("base") + "; }\n" +
        "    const r = evaluatePixel(samples, scenes, md, {}, {});\n";
    }
    body += "    if (r === null || typeof r !== \"object\") misfit(outputs, r);\n";
    body += single ? "    const asArray = isArray(r) || isView(r);\n" : "    if (isArray(r)) misfit(outputs, r);\n";
    let offset = 0;
    for (let o = 0; o < outputs.length; o++) {
      const id = outputs[o][0], bands = outputs[o][1];
      body += "    {\n      const v = " + (single ? "asArray ? r : " : "") + "r[" + stringify(id) + "];\n" +
        "      if (v === undefined || v === null || v.length !== " + bands + ") misfit(outputs, r);\n" +
        "      let x;\n";
      for (let b = 0; b < bands; b++) {
        body += "      x = v[" + b + "]; out[" + offset + " * n + i * " + bands + " + " + b + "] = " +
          "x === null ? NaN : +x;\n";
      }
      body += "    }\n";
      offset += bands;
    }
    body += "  }\n  return out.buffer;\n};";
    made = new Fn("F64", "isArray", "isView", "misfit", "outputs", "md", body)(
      F64, isArray, isView, misfit, outputs, inputMetadata);
    loops.set(key, made);
    return made;
  }

  function simple(meta) {
    return loop("simple", meta.inputs, meta.outputs)(input, meta.n, [], []);
  }

  function sceneObjects(list) {
    return list.map(function (raw, index) {
      const scene = Object.assign({}, raw);
      if (typeof raw.date === "string") scene.date = new DateCtor(raw.date);
      Object.defineProperty(scene, "__fisIndex", { value: index, enumerable: false });
      return scene;
    });
  }

  function orbit(meta) {
    const n = meta.n, k = meta.inputs.length;
    let scenes = sceneObjects(meta.scenes);
    if (typeof preProcessScenes === "function") {
      const collections = { scenes: { orbits: scenes }, from: new DateCtor(meta.from), to: new DateCtor(meta.to) };
      const kept = preProcessScenes(collections);
      const orbits = kept && kept.scenes && kept.scenes.orbits;
      if (!isArray(orbits)) fail("preProcessScenes must return the collections object with scenes.orbits");
      scenes = orbits.filter(function (s) { return s !== null && typeof s === "object" && "__fisIndex" in s; });
    }
    const picks = scenes.map(function (s) { return s.__fisIndex * k * n; });
    const sceneArg = scenes.slice();
    sceneArg.orbits = scenes;
    return loop("orbit", meta.inputs, meta.outputs)(input, n, picks, sceneArg);
  }

  return Object.freeze({ describe: describe, inputBuffer: inputBuffer, simple: simple, orbit: orbit });
})();
"""
