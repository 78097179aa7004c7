"""The cloud model: manifest, verified weights, predictions, and the per-pixel mask recipe.

``cloud_mask`` is compared with s2cloudless' own ``S2PixelCloudDetector.get_mask_from_prob``.
They agree everywhere except within ``average_over + dilation_size`` pixels of the image edge:
s2cloudless averages with ``cv2.filter2D(..., borderType=cv2.BORDER_REFLECT)`` (the image is
mirrored beyond the edge), fis averages only over the pixels that exist (outside pixels, like
no-data pixels, carry no weight). The dilation is the same (cv2.dilate's default border never
adds cloud). With ``average_over = 0`` they are equal everywhere.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from fis.core.bands import BANDS
from fis.engine.clouds import MODELS_DIR, CloudModel, ModelManifest, cloud_mask, disk, load_model
from fis.errors import ModelError

MODEL_BANDS = ("B01", "B02", "B04", "B05", "B08", "B8A", "B09", "B10", "B11", "B12")


@pytest.fixture(scope="module")
def model() -> CloudModel:
    return load_model("s2cloudless-v0.1")


# ------------------------------------------------------------------------------ manifest


def test_manifest_loads() -> None:
    manifest = ModelManifest.load("s2cloudless-v0.1")
    assert manifest.name == "s2cloudless-v0.1"
    assert manifest.input_bands == MODEL_BANDS
    assert manifest.product_level == "L1C"
    assert (manifest.default_threshold, manifest.default_average_over, manifest.default_dilation_size) == (0.4, 1, 1)
    assert manifest.weights_package == "s2cloudless"
    assert manifest.weights_file().name == "pixel_s2_cloud_detector_lightGBM_v0.1.txt"
    # the same manifest by path
    assert ModelManifest.load(str(MODELS_DIR / "s2cloudless-v0.1.json")) == manifest


def test_weights_sha256_is_verified(model: CloudModel) -> None:
    path = model.manifest.weights_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == model.manifest.sha256
    assert model.input_bands == MODEL_BANDS


def test_wrong_sha256_raises_model_error_naming_both_hashes(tmp_path: Path) -> None:
    data = json.loads((MODELS_DIR / "s2cloudless-v0.1.json").read_text())
    real = data["weights"]["sha256"]
    wrong = "0" * 64
    data["weights"]["sha256"] = wrong
    manifest_path = tmp_path / "tampered.json"
    manifest_path.write_text(json.dumps(data))
    with pytest.raises(ModelError) as info:
        CloudModel(ModelManifest.load(str(manifest_path)))
    assert real in info.value.message and wrong in info.value.message
    with pytest.raises(ModelError):
        load_model(str(manifest_path))


def test_missing_manifest_and_missing_package(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        ModelManifest.load("no-such-model")
    data = json.loads((MODELS_DIR / "s2cloudless-v0.1.json").read_text())
    data["weights"]["package"] = "fis_no_such_weights_package"
    path = tmp_path / "nopkg.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ModelError, match="fis_no_such_weights_package"):
        CloudModel(ModelManifest.load(str(path)))


# ------------------------------------------------------------------------------ predictions


def test_predict_shapes_and_nan_rows(model: CloudModel) -> None:
    x = np.full((3, 10), 0.1)
    x[1, 4] = np.nan
    p = model.predict(x)
    assert p.shape == (3,)
    assert np.isnan(p[1]) and np.isfinite(p[[0, 2]]).all()
    assert p[0] == p[2]
    with pytest.raises(ModelError, match=r"expects \(n, 10\)"):
        model.predict(np.zeros((2, 13)))


@pytest.fixture(scope="module")
def reference(shared_data: Path) -> np.ndarray:
    return np.load(shared_data / "s2-reference" / "reference_scenes.npy")


@pytest.mark.reference
def test_mean_clear_and_cloudy_vectors_of_the_real_scenes(model: CloudModel, reference: np.ndarray) -> None:
    """Scenes 0, 1 are the cloudy acquisitions, 2, 3, 4 the clear ones (DESIGN.md section 6)."""
    idx = [BANDS.index(b) for b in MODEL_BANDS]
    pixels = reference.astype(np.float64)
    cloudy = pixels[[0, 1]].reshape(-1, 13)[:, idx].mean(axis=0)
    clear = pixels[[2, 3, 4]].reshape(-1, 13)[:, idx].mean(axis=0)
    p_cloudy, p_clear = model.predict(np.vstack([cloudy, clear]))
    assert p_cloudy > 0.9
    assert p_clear < 0.1
    # and per scene
    per_scene = model.predict(pixels.reshape(5, -1, 13)[:, :, idx].mean(axis=1))
    assert (per_scene[:2] > 0.5).all() and (per_scene[2:] < 0.1).all()


@pytest.mark.reference
def test_pixel_probabilities_equal_s2cloudless(model: CloudModel, reference: np.ndarray) -> None:
    from s2cloudless import S2PixelCloudDetector

    detector = S2PixelCloudDetector(all_bands=True)
    theirs = detector.get_cloud_probability_maps(reference[:, ::4, ::4, :])  # (5, 26, 25), float32
    idx = [BANDS.index(b) for b in MODEL_BANDS]
    ours = model.predict(reference[:, ::4, ::4, :][..., idx].reshape(-1, 10)).reshape(theirs.shape)
    assert np.allclose(ours, theirs, atol=1e-6)


# ------------------------------------------------------------------------------ mask recipe


def test_disk_matches_s2cloudless_cv2_disk() -> None:
    from s2cloudless.utils import cv2_disk

    for radius in range(1, 11):
        assert np.array_equal(disk(radius), cv2_disk(radius).astype(bool)), radius


def _theirs(prob: np.ndarray, threshold: float, average_over: int, dilation: int) -> np.ndarray:
    from s2cloudless import S2PixelCloudDetector

    detector = S2PixelCloudDetector(threshold=threshold, average_over=average_over, dilation_size=dilation)
    if average_over == 0 and dilation:
        # s2cloudless 1.7.3 hands an int8 mask to cv2.dilate in this branch, which OpenCV 5
        # refuses ("Unsupported data type"); run its own dilation on uint8 instead.
        import cv2

        return cv2.dilate((prob > threshold).astype(np.uint8), detector.dilation_filter).astype(bool)
    return detector.get_mask_from_prob(prob[np.newaxis].astype(np.float64))[0].astype(bool)


@pytest.mark.parametrize(
    ("threshold", "average_over", "dilation"),
    [(0.4, 1, 1), (0.6, 4, 2), (0.6, 3, 0), (0.6, 0, 2), (0.4, 0, 0), (0.7, 2, 3), (0.5, 10, 10)],
)
def test_cloud_mask_equals_s2cloudless_away_from_the_edges(threshold: float, average_over: int, dilation: int) -> None:
    rng = np.random.default_rng(100 * average_over + dilation)
    # a smooth random field (so that masks have structure), values in 0..1
    from scipy import ndimage

    prob = ndimage.gaussian_filter(rng.random((80, 90)), 3)
    prob = (prob - prob.min()) / (prob.max() - prob.min())
    ours = cloud_mask(prob, threshold=threshold, average_over=average_over, dilation_size=dilation)
    theirs = _theirs(prob, threshold, average_over, dilation)
    assert ours.dtype == bool and ours.shape == prob.shape
    assert 0.05 < ours.mean() < 0.95
    margin = average_over + dilation
    inner = (slice(margin, -margin or None), slice(margin, -margin or None))
    assert np.array_equal(ours[inner], theirs[inner])
    if average_over == 0:
        assert np.array_equal(ours, theirs)  # no averaging: equal everywhere, edges included


def test_edge_difference_is_the_border_rule() -> None:
    """A cloud touching the edge: s2cloudless mirrors it beyond the edge, fis ignores outside pixels."""
    prob = np.zeros((20, 20))
    prob[:, 0] = 1.0  # a one-pixel cloudy column on the west edge
    ours = cloud_mask(prob, threshold=0.3, average_over=1, dilation_size=0)
    theirs = _theirs(prob, 0.3, 1, 0)
    # fis at an edge pixel (weight 4: N, S, E, self): 3/4 (corner: 2/3) > 0.3;
    # s2cloudless with reflection: west neighbour mirrors the pixel itself -> 4/5 (corner 3/5)
    assert ours[:, 0].all() and theirs[:, 0].all()
    # column 1: fis 1/5 and s2cloudless 1/5 -> clear in both
    assert not ours[:, 1].any() and not theirs[:, 1].any()
    # a threshold between the two averages at an interior edge pixel tells them apart
    ours = cloud_mask(prob, threshold=0.78, average_over=1, dilation_size=0)
    theirs = _theirs(prob, 0.78, 1, 0)
    assert not ours[1:-1, 0].any()  # 3/4 = 0.75 < 0.78
    assert theirs[1:-1, 0].all()  # 4/5 = 0.8 > 0.78


def test_nan_is_never_cloud() -> None:
    prob = np.full((15, 15), 0.95)
    prob[5:10, 5:10] = np.nan
    prob[0, :] = np.nan
    mask = cloud_mask(prob, threshold=0.4, average_over=2, dilation_size=3)
    assert not mask[np.isnan(prob)].any()
    assert mask[~np.isnan(prob)].all()
    # NaN carries no weight in the average: a clear pixel next to a no-data block stays clear
    prob = np.full((9, 9), np.nan)
    prob[4, 4] = 0.1
    assert not cloud_mask(prob, threshold=0.4, average_over=3, dilation_size=0).any()
    assert not cloud_mask(np.full((4, 4), np.nan), threshold=0.0, average_over=1, dilation_size=1).any()
