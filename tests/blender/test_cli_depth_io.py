"""CLI + real bpy: depth embedded in phone photos reaches the mesh; textures with sidecars."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("pillow_heif")

import bpy  # noqa: E402

from depth_addon import cli  # noqa: E402
from tests.phone_depth_files import (corrupt_depth_image, encode_gdepth,  # noqa: E402
                                     write_gdepth_jpeg, write_heif_with_depth)

FAST = ["--seconds", "0.4", "--fps", "5", "--resolution", "160x106", "-q"]
H, W = 300, 450


def run_cli(args, capsys):
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture()
def chelsea():
    import skimage.data

    return np.ascontiguousarray(np.asarray(skimage.data.chelsea())[:H, :W])


def scene_depth(h=H, w=W):
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = 3.5 - 2.0 * v / (h - 1)
    z[h // 5: h // 2, w // 6: w // 3] = 0.8
    return z


def _mesh_depths():
    ob = bpy.data.objects["3D Photo"]
    co = np.empty(len(ob.data.vertices) * 3, np.float32)
    ob.data.vertices.foreach_get("co", co)
    return co.reshape(-1, 3)[:, 1]  # Blender frame of the add-on: +Y = depth


def test_heic_depth_reaches_the_mesh_and_exports_carry_their_meaning(tmp_path, capsys, chelsea):
    zn, zf = 0.5, 4.0
    q = np.rint((scene_depth(H // 2, W // 2) - zn) / (zf - zn) * 255).astype(np.uint8)
    photo = tmp_path / "portrait.heic"
    write_heif_with_depth(photo, chelsea, q, rep_type=2, z_near=zn, z_far=zf)
    d_png, n_png = tmp_path / "d.png", tmp_path / "n.png"
    code, out, err = run_cli([photo, "--no-render", "--export-depth", d_png, "--export-normals",
                              n_png, "--no-fill"] + FAST, capsys)
    assert code == 0, err
    assert "(embedded HEIF depth image (uniform Z, 0.5-4 m))" in out and " m (" in out
    assert f"{d_png}.json" in out and f"{n_png}.json" in out
    ys = _mesh_depths()
    assert ys.min() == pytest.approx(0.8, abs=0.03) and ys.max() == pytest.approx(3.5, abs=0.03)
    meta = json.loads((tmp_path / "d.png.json").read_text())
    assert meta["kind"] == "metric depth" and meta["source"]["type"] == "embedded"
    assert meta["source"]["name"] == "embedded HEIF depth image (uniform Z, 0.5-4 m)"
    from depth_addon.core.depth import read_depth
    back = read_depth(d_png)
    assert back.kind == "metric" and abs(float(back.values.min()) - 0.8) < 0.03
    # the exported depth + sidecar drives a new run: metric, with the exported K
    code, out, err = run_cli([photo, "--depth", d_png, "--no-render", "--save-blend",
                              tmp_path / "s.blend", "--no-fill"] + FAST, capsys)
    assert code == 0, err
    assert f"({d_png} (sidecar: metric depth))" in out and " m (" in out


def test_model_overrides_embedded_depth(tmp_path, capsys, chelsea, tiny_model_dir):
    photo = tmp_path / "lensblur.jpg"
    write_gdepth_jpeg(photo, chelsea, encode_gdepth(scene_depth(), "RangeInverse", 0.6, 5.0),
                      near=0.6, far=5.0)
    code, out, err = run_cli([photo, "--no-render", "--save-blend", tmp_path / "a.blend"]
                             + FAST, capsys)
    assert code == 0, err
    assert "(embedded GDepth depth map (RangeInverse, 0.6-5 m))" in out
    code, out, err = run_cli([photo, "--model", tiny_model_dir, "--no-render", "--save-blend",
                              tmp_path / "b.blend"] + FAST, capsys)
    assert code == 0, err
    assert f"({tiny_model_dir})" in out and "embedded GDepth" not in out


def test_unreadable_heic_depth_falls_back_to_the_model(tmp_path, capsys, chelsea, tiny_model_dir,
                                                       monkeypatch):
    photo = tmp_path / "broken.heic"
    write_heif_with_depth(photo, chelsea, np.full((H // 2, W // 2), 90, np.uint8), rep_type=2,
                          z_near=0.5, z_far=4.0)
    corrupt_depth_image(photo)
    from depth_addon.core import monocular
    monkeypatch.setattr(monocular, "DEFAULT_MODEL", str(tiny_model_dir))
    monkeypatch.setattr(cli, "DEFAULT_MODEL", str(tiny_model_dir))
    code, out, err = run_cli([photo, "--no-render", "--save-blend", tmp_path / "s.blend"] + FAST,
                             capsys)
    assert code == 0, err
    assert "notice: " in err and "cannot decode its HEIF depth image" in err
    assert f"using the depth model {tiny_model_dir} instead" in err
    assert f"({tiny_model_dir})" in out and "Traceback" not in err
    # asked for explicitly: a clear error instead
    code, out, err = run_cli([photo, "--depth", "embedded", "--no-render", "--save-blend",
                              tmp_path / "t.blend"] + FAST, capsys)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: ")
    assert "cannot decode its HEIF depth image" in err


def test_bad_inputs(tmp_path, capsys, chelsea):
    plain = tmp_path / "plain.jpg"
    Image.fromarray(chelsea).save(plain)
    code, out, err = run_cli([plain, "--depth", "embedded", "--no-render", "--save-blend",
                              tmp_path / "s.blend"] + FAST, capsys)
    assert code == 2 and err.strip() == (f"error: {plain} carries no depth of its own (HEIF "
                                         "depth image or GDepth XMP); drop --depth embedded to "
                                         "use the depth model")
    np.save(tmp_path / "z.npy", np.full((H, W), 2.0, np.float32))
    (tmp_path / "out.exr.json").write_text("{}")
    code, out, err = run_cli([plain, "--depth", tmp_path / "z.npy", "--depth-kind", "metric",
                              "--no-render", "--export-depth", tmp_path / "out.exr"] + FAST, capsys)
    assert code == 2 and err.strip() == (f"error: {tmp_path / 'out.exr.json'} exists; pass "
                                         "--overwrite to replace it")
    assert not (tmp_path / "out.exr").exists()
    code, out, err = run_cli([plain, "--depth", tmp_path / "z.npy", "--depth-kind", "metric",
                              "--no-render", "--export-normals", tmp_path / "n.tif"] + FAST, capsys)
    assert code == 2 and "normal map must end in .png" in err
