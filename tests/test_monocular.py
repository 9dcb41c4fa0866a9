"""Tests for depth_addon.core.monocular with a tiny random Depth Anything (no downloads, no bpy)."""
from __future__ import annotations

import json
import pathlib
import shutil
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from depth_addon.core import monocular  # noqa: E402
from depth_addon.core.depth import DepthResult  # noqa: E402
from depth_addon.core.errors import Cancelled, InputError, ModelError  # noqa: E402
from tests.tiny_model import make_tiny_depth_anything  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> pathlib.Path:
    return make_tiny_depth_anything(tmp_path_factory.mktemp("models") / "tiny-da")


@pytest.fixture(autouse=True)
def _offline_and_clean(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield
    monocular.unload_models()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    skimage_data = pytest.importorskip("skimage.data")
    return skimage_data.astronaut()


def test_available_here():
    assert monocular.available() is None


def test_known_models_table():
    assert monocular.DEFAULT_MODEL in monocular.KNOWN_MODELS
    label, licence, metric = monocular.KNOWN_MODELS[monocular.DEFAULT_MODEL]
    assert licence == "Apache-2.0" and metric is False
    assert monocular.KNOWN_MODELS["depth-anything/Depth-Anything-V2-Large-hf"][1] == "CC-BY-NC-4.0"
    assert monocular.KNOWN_MODELS["apple/DepthPro-hf"][2] is True


def test_predict_tiny_model(tiny_folder, astronaut):
    model = monocular.load_model(str(tiny_folder), device="cpu")
    assert model.device == "cpu" and model.is_metric is False
    calls = []
    res = model.predict(astronaut, progress=lambda stage, f: calls.append((stage, f)))
    assert isinstance(res, DepthResult)
    assert res.values.shape == (512, 512) and res.values.dtype == np.float32
    assert np.isfinite(res.values).all()
    assert res.kind == "inverse"
    assert res.valid.dtype == bool and res.valid.all()
    assert res.K is None
    assert res.source == model.name
    assert calls[0][1] == 0.0 and calls[-1][1] == 1.0
    assert len(calls) > 3  # encoder blocks report too
    # float input in [0, 1] gives the same map (converted to 8-bit like the uint8 input)
    res_f = model.predict(astronaut.astype(np.float32) / 255.0)
    np.testing.assert_allclose(res_f.values, res.values, rtol=1e-5, atol=1e-6)


def test_predict_non_square_and_max_side(tiny_folder, astronaut):
    model = monocular.load_model(str(tiny_folder), device="cpu")
    rgb = astronaut[:300, :450]
    res = model.predict(rgb, max_side=42)
    assert res.values.shape == (300, 450) and np.isfinite(res.values).all()


def test_predict_rejects_bad_input(tiny_folder):
    model = monocular.load_model(str(tiny_folder), device="cpu")
    with pytest.raises(InputError):
        model.predict(np.zeros((10, 10, 5), np.uint8))


def test_cancel_during_inference(tiny_folder, astronaut):
    model = monocular.load_model(str(tiny_folder), device="cpu")

    def cancel(stage, fraction):
        if fraction > 0.1:
            raise Cancelled("cancelled by test")

    with pytest.raises(Cancelled):
        model.predict(astronaut, progress=cancel)


def test_second_load_is_cached_and_unload_frees(tiny_folder):
    a = monocular.load_model(str(tiny_folder), device="cpu")
    t0 = time.perf_counter()
    b = monocular.load_model(str(tiny_folder), device="cpu")
    assert b is a and time.perf_counter() - t0 < 0.05
    assert monocular.unload_models() == 1
    assert monocular.unload_models() == 0
    with pytest.raises(ModelError):
        a.predict(np.zeros((8, 8, 3), np.uint8))
    c = monocular.load_model(str(tiny_folder), device="cpu")
    assert c is not a


def test_cached_hub_id_loads_offline(tiny_folder, tmp_path, astronaut):
    # The huggingface_hub cache layout: models--ORG--NAME/{refs/main, snapshots/<commit>/files}.
    repo = tmp_path / "hub" / "models--test-org--tiny-da"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    shutil.copytree(tiny_folder, repo / "snapshots" / commit)
    model = monocular.load_model("test-org/tiny-da", device="cpu", cache_dir=tmp_path / "hub")
    assert model.name == "test-org/tiny-da"
    assert model.predict(astronaut).values.shape == (512, 512)


def test_offline_hub_id_fails_fast():
    name = "nonexistent-org/definitely-not-a-depth-model"
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as err:
        monocular.load_model(name)
    assert time.perf_counter() - t0 < 10
    msg = str(err.value)
    assert name in msg and "--model" in msg and "\n" not in msg


def test_unreachable_hub_fails_fast_without_offline_env(monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    name = "nonexistent-org/definitely-not-a-depth-model"
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as err:
        monocular.load_model(name)
    assert time.perf_counter() - t0 < 10
    assert name in str(err.value)


def test_folder_that_is_not_a_model(tmp_path):
    with pytest.raises(ModelError, match="not a transformers depth model"):
        monocular.load_model(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(ModelError, match="not a depth-estimation architecture"):
        monocular.load_model(str(tmp_path))
    with pytest.raises(ModelError, match="does not exist"):
        monocular.load_model(str(tmp_path / "missing"))


def test_resolve_device():
    import torch

    assert monocular.resolve_device("cpu") == "cpu"
    assert monocular.resolve_device("auto") in {"cpu", "cuda", "mps"}
    with pytest.raises(ModelError):
        monocular.resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="cuda"):
            monocular.resolve_device("cuda")
        with pytest.raises(ModelError):
            monocular.load_model("whatever/id", device="cuda")


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_import_is_lazy():
    proc = _run("""
        import sys
        import depth_addon.core.monocular as m
        assert "torch" not in sys.modules and "transformers" not in sys.modules, sorted(sys.modules)
        print("ok")
    """)
    assert proc.returncode == 0, proc.stderr
    assert "ok" in proc.stdout


def test_import_without_torch():
    proc = _run("""
        import sys
        sys.modules["torch"] = None          # makes `import torch` raise ImportError
        import depth_addon.core.monocular as m
        from depth_addon.core.errors import ModelError
        msg = m.available()
        assert msg and "torch" in msg and "pip install" in msg and "\\n" not in msg, msg
        try:
            m.resolve_device("auto")
        except ModelError as exc:
            assert "torch" in str(exc)
        else:
            raise AssertionError("resolve_device worked without torch")
        print(msg)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "torch" in proc.stdout
