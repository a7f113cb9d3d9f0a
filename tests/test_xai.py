"""xai: one interface over tf-keras-vis methods and LIME, checked for real properties."""

import re

import numpy as np
import pytest
import tensorflow as tf

from experiments.images import load_for_model
from experiments.models import build_cnn, keras
from xai.explain import METHODS, explain, logit_model
from xai.lime_explain import display_copy, superpixels
from tests.conftest import SAMPLES_DIR


@pytest.fixture(scope="module")
def two_images(seed_mirror):
    return np.stack([load_for_model(seed_mirror / SAMPLES_DIR / n, 32) for n in ("mona lisa.JPG", "ai_portrait_civitai.jpg")])


def test_logit_model_is_the_same_network_before_softmax(cnn32, two_images):
    logits = keras.ops.convert_to_numpy(logit_model(cnn32.model)(two_images))
    probs = cnn32.predict_proba(two_images)
    np.testing.assert_allclose(tf.nn.softmax(logits).numpy(), probs, atol=1e-6)


def _normalise(m):
    return (m - m.min()) / (m.max() - m.min())


def test_saliency_gradients_come_from_the_logits_not_the_softmax(cnn32, two_images):
    x = tf.constant(two_images[:1])
    maps = {}
    for name, net in (("logits", logit_model(cnn32.model)), ("softmax", cnn32.model)):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = net(x)[:, 0]
        maps[name] = _normalise(np.abs(tape.gradient(out, x).numpy()).max(axis=-1))[0]
    ours = explain(cnn32.model, two_images[:1], "saliency", target=0)[0]
    np.testing.assert_allclose(ours, maps["logits"], atol=1e-5)
    assert np.abs(ours - maps["softmax"]).max() > 0.05


@pytest.mark.parametrize("method", METHODS)
def test_every_method_gives_normalised_maps_through_one_call(cnn32, two_images, method):
    options = {"num_samples": 200} if method == "lime" else {}
    maps = explain(cnn32.model, two_images, method, "human", class_names=("ai", "human"), **options)
    assert maps.shape == (2, 32, 32)
    assert np.isfinite(maps).all() and maps.min() >= 0 and maps.max() <= 1
    assert (maps.reshape(2, -1).max(axis=1) == 1).all()  # not blank


def test_bad_method_and_target_are_clear_errors(cnn32, two_images):
    with pytest.raises(ValueError, match=re.escape("unknown method 'gradcam+++'")):
        explain(cnn32.model, two_images, "gradcam+++")
    with pytest.raises(ValueError, match="class names"):
        explain(cnn32.model, two_images, "saliency", "robot", class_names=("ai", "human"))


@pytest.fixture(scope="module")
def corner_model():
    """A CNN trained so that its decision depends only on the top-left quadrant: class 1 has a
    bright square somewhere in it, class 0 does not; the rest of every image is noise."""
    rng = np.random.default_rng(0)
    x = rng.random((768, 32, 32, 3), dtype=np.float32) * 0.5
    y = np.arange(768) % 2
    for i in np.flatnonzero(y):
        r, c = rng.integers(0, 9, 2)
        x[i, r : r + 7, c : c + 7] = 1.0
    keras.utils.set_random_seed(0)
    model = build_cnn(32)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=4, batch_size=32, verbose=0)
    return model, x[y == 1][:16]


def test_gradcam_peaks_where_the_decision_is_made(corner_model):
    model, positives = corner_model
    assert keras.ops.convert_to_numpy(model(positives)).argmax(axis=1).mean() > 0.9  # it learned
    for method in ("gradcam", "gradcam++", "layercam"):
        maps = explain(model, positives, method, target=1)
        rows, cols = np.unravel_index(maps.reshape(len(maps), -1).argmax(axis=1), (32, 32))
        assert ((rows < 16) & (cols < 16)).mean() >= 0.8, method


def test_lime_uses_many_superpixels_and_repeats_with_its_seed(cnn32, two_images):
    segments = superpixels(display_copy(two_images[0], 256))
    assert segments.shape == (256, 256) and len(np.unique(segments)) >= 20
    a = explain(cnn32.model, two_images[:1], "lime", "ai", class_names=("ai", "human"), num_samples=300, seed=1)
    b = explain(cnn32.model, two_images[:1], "lime", "ai", class_names=("ai", "human"), num_samples=300, seed=1)
    c = explain(cnn32.model, two_images[:1], "lime", "ai", class_names=("ai", "human"), num_samples=300, seed=2)
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert len(np.unique(np.round(a, 6))) >= 10  # many superpixels carry weight, not one blob
