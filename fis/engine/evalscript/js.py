"""The JavaScript side of the runtime, evaluated in each script's V8 context before the script.

``PRELUDE`` defines Sentinel Hub's common helper functions (``index``, ``combine``,
``valueInterpolate``, ``colorBlend``), a silent ``console`` and ``__fis``, the runner: the worker
writes a date's inputs into one ``Float64Array`` (``__fis.inputBuffer``), ``__fis.simple`` /
``__fis.orbit`` loop over the pixels calling ``evaluatePixel`` and return one ``Float64Array``
holding every output (output by output, ``n x bands`` each) whose ``ArrayBuffer`` goes back to
Python without a copy. Errors the runner raises about the script's results start with ``FIS:``.
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

const __fis = (function () {
  "use strict";
  const F64 = Float64Array, Fn = Function, stringify = JSON.stringify, DateCtor = Date;
  const MARK = "FIS: ";
  const samplers = new Map();
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

  function sampler(names) {
    const key = names.join(",");
    let make = samplers.get(key);
    if (make === undefined) {
      const fields = names.map(function (name, j) {
        return stringify(name) + ": src[base + " + j + " * n + i]";
      }).join(", ");
      make = new Fn("src", "base", "n", "i", "return {" + fields + "};");
      samplers.set(key, make);
    }
    return make;
  }

  function kind(value) {
    if (value === null) return "null";
    if (Array.isArray(value)) return "an array";
    return typeof value === "object" ? "an object" : typeof value;
  }

  function writer(outputs, n) {
    const offsets = [];
    let total = 0;
    for (let o = 0; o < outputs.length; o++) { offsets.push(total); total += outputs[o][1] * n; }
    const out = new F64(total);
    const single = outputs.length === 1;
    const ids = outputs.map(function (o) { return o[0]; }).join(", ");
    function put(result, i) {
      if (result === null || typeof result !== "object") {
        fail("evaluatePixel must return an object {" + ids + "} of arrays (or one array), got " + kind(result));
      }
      const asArray = Array.isArray(result) || ArrayBuffer.isView(result);
      if (asArray && !single) {
        fail("evaluatePixel returned an array but setup() declares " + outputs.length +
             " outputs: return an object {" + ids + "}");
      }
      for (let o = 0; o < outputs.length; o++) {
        const id = outputs[o][0], bands = outputs[o][1];
        const values = asArray ? result : result[id];
        if (values === undefined || values === null || typeof values.length !== "number") {
          fail("evaluatePixel did not return output \"" + id + "\" as an array of " + bands + " value(s), got " +
               kind(values));
        }
        if (values.length !== bands) {
          fail("evaluatePixel returned " + values.length + " value(s) for output \"" + id + "\", which has " +
               bands + " band(s)");
        }
        const base = offsets[o] + i * bands;
        for (let b = 0; b < bands; b++) {
          const v = values[b];
          out[base + b] = (v === null || v === undefined) ? NaN : +v;
        }
      }
    }
    return { out: out, put: put };
  }

  function simple(meta) {
    const n = meta.n, src = input, make = sampler(meta.inputs), w = writer(meta.outputs, n);
    const scenes = [];
    for (let i = 0; i < n; i++) {
      w.put(evaluatePixel(make(src, 0, n, i), scenes, inputMetadata, {}, {}), i);
    }
    return w.out.buffer;
  }

  function sceneObjects(list) {
    const scenes = list.map(function (raw, index) {
      const scene = Object.assign({}, raw);
      if (typeof raw.date === "string") scene.date = new DateCtor(raw.date);
      Object.defineProperty(scene, "__fisIndex", { value: index, enumerable: false });
      return scene;
    });
    return scenes;
  }

  function orbit(meta) {
    const n = meta.n, k = meta.inputs.length, src = input;
    const make = sampler(meta.inputs), w = writer(meta.outputs, n);
    let scenes = sceneObjects(meta.scenes);
    if (typeof preProcessScenes === "function") {
      const collections = { scenes: { orbits: scenes }, from: new DateCtor(meta.from), to: new DateCtor(meta.to) };
      const kept = preProcessScenes(collections);
      const orbits = kept && kept.scenes && kept.scenes.orbits;
      if (!Array.isArray(orbits)) fail("preProcessScenes must return the collections object with scenes.orbits");
      scenes = orbits.filter(function (s) { return s !== null && typeof s === "object" && "__fisIndex" in s; });
    }
    const picks = scenes.map(function (s) { return s.__fisIndex * k * n; });
    const sceneArg = scenes.slice();
    sceneArg.orbits = scenes;
    const m = picks.length;
    for (let i = 0; i < n; i++) {
      const samples = new Array(m);
      for (let a = 0; a < m; a++) samples[a] = make(src, picks[a], n, i);
      w.put(evaluatePixel(samples, sceneArg, inputMetadata, {}, {}), i);
    }
    return w.out.buffer;
  }

  return Object.freeze({ describe: describe, inputBuffer: inputBuffer, simple: simple, orbit: orbit });
})();
"""
