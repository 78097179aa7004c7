"""The cloud classifier: manifest, verified weights, probabilities and the per-pixel mask.

The model is described by a JSON manifest in the project's ``models/`` folder, shipped in the package (name,
input bands and order, scaling, default threshold, where the weights come from and their sha256).
Loading checks the hash; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import threading
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
from scipy import ndimage

from fis.errors import ModelError

#: The classifier manifests (the repository's ``models/``, shipped as ``fis._resources.models``).
MODELS_DIR = Path(str(files("fis._resources.models")))


@dataclass(frozen=True)
class ModelManifest:
    """What a classifier needs as input and where its verified weights live."""

    name: str
    input_bands: tuple[str, ...]
    product_level: str
    default_threshold: float
    default_average_over: int
    default_dilation_size: int
    weights_package: str
    weights_path: str
    sha256: str

    @classmethod
    def load(cls, name_or_path: str) -> ModelManifest:
        """Load ``models/<name>.json`` (or an explicit path to a manifest)."""
        path = Path(name_or_path)
        if path.suffix != ".json":
            path = MODELS_DIR / f"{name_or_path}.json"
        if not path.is_file():
            raise ModelError(
                f"cloud model manifest {str(path)!r} not found; set FIS_CLOUD_MODEL to a manifest name in {MODELS_DIR}"
            )
        data = json.loads(path.read_text())
        weights = data["weights"]
        return cls(
            name=data["name"],
            input_bands=tuple(data["input_bands"]),
            product_level=data.get("product_level", "L1C"),
            default_threshold=float(data["default_threshold"]),
            default_average_over=int(data.get("default_average_over", 1)),
            default_dilation_size=int(data.get("default_dilation_size", 1)),
            weights_package=weights["package"],
            weights_path=weights["path"],
            sha256=weights["sha256"],
        )

    def weights_file(self) -> Path:
        """Absolute path of the weights inside the installed package (no import of the package)."""
        spec = importlib.util.find_spec(self.weights_package)
        if spec is None or not spec.submodule_search_locations:
            raise ModelError(
                f"package {self.weights_package!r} holding the weights of {self.name!r} is not installed; "
                f"pip install {self.weights_package}"
            )
        return Path(next(iter(spec.submodule_search_locations))) / self.weights_path


class CloudModel:
    """A loaded, hash-verified classifier. ``predict`` is thread-safe."""

    def __init__(self, manifest: ModelManifest):
        import lightgbm

        path = manifest.weights_file()
        if not path.is_file():
            raise ModelError(f"weights of {manifest.name!r} not found at {path}")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != manifest.sha256:
            raise ModelError(
                f"weights {path} have sha256 {digest}, the manifest of {manifest.name!r} expects {manifest.sha256}; "
                "reinstall the package or update the manifest after checking the new weights"
            )
        self.manifest = manifest
        self._booster = lightgbm.Booster(model_file=str(path))
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.manifest.name

    @property
    def input_bands(self) -> tuple[str, ...]:
        return self.manifest.input_bands

    def predict(self, features: np.ndarray) -> np.ndarray:
        """P(cloud) for an ``(n, len(input_bands))`` array of reflectances; rows with NaN give NaN."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != len(self.input_bands):
            raise ModelError(f"{self.name} expects (n, {len(self.input_bands)}) features, got {features.shape}")
        out = np.full(features.shape[0], np.nan)
        ok = np.isfinite(features).all(axis=1)
        if ok.any():
            with self._lock:
                out[ok] = self._booster.predict(features[ok], num_threads=1)
        return out


@lru_cache(maxsize=4)
def load_model(name_or_path: str) -> CloudModel:
    """The classifier for a manifest name, loaded and verified once per process."""
    return CloudModel(ModelManifest.load(name_or_path))


def disk(radius: int) -> np.ndarray:
    """A boolean disk of the given radius in pixels (as ``cv2`` / s2cloudless build it)."""
    y, x = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    inside: np.ndarray = (x * x + y * y) <= radius * radius
    return inside


def cloud_mask(
    probability: np.ndarray, *, threshold: float, average_over: int = 1, dilation_size: int = 1
) -> np.ndarray:
    """s2cloudless post-processing: disk-average the probabilities, threshold, dilate.

    ``probability`` is 2-D with NaN where there is no data; NaN never counts as cloud and is
    left out of the averages. Returns a boolean mask.
    """
    prob = np.asarray(probability, dtype=np.float64)
    data = np.isfinite(prob)
    if average_over and average_over > 0:
        kernel = disk(average_over).astype(np.float64)
        summed = ndimage.convolve(np.where(data, prob, 0.0), kernel, mode="constant", cval=0.0)
        weight = ndimage.convolve(data.astype(np.float64), kernel, mode="constant", cval=0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            prob = np.where(data, summed / np.maximum(weight, 1e-12), np.nan)
    with np.errstate(invalid="ignore"):
        mask = np.where(data, prob > threshold, False)
    if dilation_size and dilation_size > 0 and mask.any():
        mask = ndimage.binary_dilation(mask, structure=disk(dilation_size)) & data
    return mask
