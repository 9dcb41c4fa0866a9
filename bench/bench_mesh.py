"""Benchmark: depth map -> Blender mesh, ours against the naive plane + Subdivision + Displace.

Run from the repo root: ``.venv/bin/python bench/bench_mesh.py``

Data: synthetic, deterministic depth maps of a ray-cast scene (OpenCV camera 1.6 m above a ground
plane, a back wall at 14 m, two boxes standing on the ground and three spheres, 55 deg horizontal
field of view), so there are real depth edges (object silhouettes against the ground and the wall)
and a steep ground plane that must NOT tear. Sizes: 1, 3 and 12 MP (4:3).

Cases (each in a fresh subprocess, so peak memory is per case; REPEATS runs, median):
(a)  ours: ``core.geometry.build_mesh`` with its defaults (step 2 px, max 1.5 M vertices) +
     ``cv_to_blender`` = "core"; ``blender.mesh.mesh_from_quads`` + an object linked into the scene +
     ``view_layer.update()`` = "blender".
(b)  the naive way existing add-ons do it: a grid primitive + Subdivision (SIMPLE) to about the
     same vertex count as (a) + Displace by the depth (normalised inverse depth) as a float image
     texture on the UVs, both modifiers applied with ``bpy.ops.object.modifier_apply``. The time
     includes building the float image from the array. The result is an untorn, orthographic
     relief (not even perspective-correct): (b) does less than (a).
Peak RSS = ru_maxrss of the child at its end minus ru_maxrss of a baseline child that only imports
bpy + depth_addon (core.pipeline, which loads OpenCV, as every real run does before build_mesh) and
loads the same depth map (.npy): i.e. the memory the work itself adds.
Goal: 12 MP depth -> torn mesh in <= 2 s.
"""
from __future__ import annotations

import json
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

SIZES = {"1 MP": (1152, 864), "3 MP": (2000, 1500), "12 MP": (4000, 3000)}
FOV_DEG = 55.0
#: fresh subprocesses per case; the median time is reported (the machine may be shared)
REPEATS = 3
#: subdivision levels of the naive baseline (base grid cells = ours' grid cells / 2**levels)
NAIVE_LEVELS = 4


# ---------------------------------------------------------------------------------------------
# synthetic scene
# ---------------------------------------------------------------------------------------------
def synthetic_depth(width: int, height: int) -> np.ndarray:
    """(H, W) float32 depth along the optical axis (metres) of a ray-cast test scene."""
    from depth_addon.core.geometry import intrinsics_from_fov

    K = intrinsics_from_fov(width, height, FOV_DEG)
    a = ((np.arange(width, dtype=np.float32) - K[0, 2]) / K[0, 0])[None, :]  # ray x per z
    b = ((np.arange(height, dtype=np.float32) - K[1, 2]) / K[1, 1])[:, None]  # ray y per z
    cam_h, wall = 1.6, 14.0
    Z = np.full((height, width), wall, np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        ground = np.where(b > 0, cam_h / b, np.inf).astype(np.float32)  # y = +cam_h (y down)
    np.minimum(Z, ground, out=Z)
    del ground
    # boxes standing on the ground: (x0, x1, y0, y1, z0, z1), y down, ground at y = cam_h
    boxes = [(-3.0, -1.6, 0.4, cam_h, 6.0, 7.0), (1.2, 2.6, -0.8, cam_h, 8.5, 9.5)]
    for x0, x1, y0, y1, z0, z1 in boxes:
        with np.errstate(divide="ignore", invalid="ignore"):
            tx0, tx1 = x0 / a, x1 / a
            ty0, ty1 = y0 / b, y1 / b
        tmin = np.maximum(np.maximum(np.minimum(tx0, tx1), np.minimum(ty0, ty1)), z0)
        tmax = np.minimum(np.minimum(np.maximum(tx0, tx1), np.maximum(ty0, ty1)), z1)
        del tx0, tx1, ty0, ty1
        hit = (tmax >= tmin) & (tmin > 0)
        np.minimum(Z, np.where(hit, tmin, np.inf).astype(np.float32), out=Z)
        del tmin, tmax, hit
    # spheres (cx, cy, cz, r): two on the ground, one floating close to the camera
    spheres = [(0.0, cam_h - 0.7, 6.5, 0.7), (-0.9, cam_h - 0.5, 10.0, 0.5), (1.1, 0.1, 3.5, 0.3)]
    dd = a * a + b * b + 1.0  # |d|^2 with d = (a, b, 1)
    for cx, cy, cz, r in spheres:
        dc = a * cx + b * cy + cz
        disc = dc * dc - dd * (cx * cx + cy * cy + cz * cz - r * r)
        with np.errstate(invalid="ignore"):
            t = (dc - np.sqrt(disc)) / dd
        np.minimum(Z, np.where(disc >= 0, t, np.inf).astype(np.float32), out=Z)
        del dc, disc, t
    return Z


# ---------------------------------------------------------------------------------------------
# children
# ---------------------------------------------------------------------------------------------
def _peak_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


def child(kind: str, depth_path: str) -> dict:
    import bpy  # noqa: F401

    from depth_addon.blender import mesh as bmesh
    from depth_addon.core import geometry as geo
    from depth_addon.core import pipeline  # noqa: F401  (as in a real run: this imports cv2 too)

    Z = np.load(depth_path)
    H, W = Z.shape
    K = geo.intrinsics_from_fov(W, H, FOV_DEG)
    out = {"kind": kind}
    if kind == "baseline":
        pass
    elif kind == "ours":
        t0 = time.perf_counter()
        md = geo.build_mesh(Z, K)
        pos = geo.cv_to_blender(md.positions)
        t1 = time.perf_counter()
        me = bmesh.mesh_from_quads("bench", pos, md.faces, md.uvs)
        ob = bpy.data.objects.new("bench", me)
        bpy.context.scene.collection.objects.link(ob)
        bpy.context.view_layer.update()
        t2 = time.perf_counter()
        out.update(core_s=t1 - t0, blender_s=t2 - t1, total_s=t2 - t0,
                   vertices=len(me.vertices), faces=len(me.polygons), torn=md.n_torn_cells,
                   grid=list(md.grid))
    elif kind == "naive":
        gw, gh = (int(v) for v in os.environ["BENCH_GRID"].split("x"))
        L = NAIVE_LEVELS
        cx = max(1, round((gw - 1) / 2 ** L))
        cy = max(1, round((gh - 1) / 2 ** L))
        t0 = time.perf_counter()
        # what the add-ons do: the depth map becomes a float image texture (here from the array)
        w = 1.0 / Z
        lo, hi = np.percentile(w, [0.5, 99.5])
        n = np.clip((w - lo) / max(hi - lo, 1e-12), 0, 1).astype(np.float32)
        img = bpy.data.images.new("depth", width=W, height=H, alpha=False, float_buffer=True)
        img.colorspace_settings.name = "Non-Color"
        rgba = np.ones((H, W, 4), np.float32)
        rgba[..., :3] = n[::-1, :, None]
        img.pixels.foreach_set(rgba.ravel())
        del rgba, n, w
        tex = bpy.data.textures.new("depth", "IMAGE")
        tex.image = img
        tex.extension = "EXTEND"
        t1 = time.perf_counter()
        bpy.ops.mesh.primitive_grid_add(x_subdivisions=cx, y_subdivisions=cy, size=2.0)
        ob = bpy.context.active_object
        ob.scale = (1.0, H / W, 1.0)
        sub = ob.modifiers.new("Subdivision", "SUBSURF")
        sub.subdivision_type = "SIMPLE"
        sub.levels = sub.render_levels = L
        disp = ob.modifiers.new("Displace", "DISPLACE")
        disp.texture = tex
        disp.texture_coords = "UV"
        disp.uv_layer = "UVMap"
        disp.strength = 0.5
        with bpy.context.temp_override(object=ob, active_object=ob, selected_objects=[ob]):
            bpy.ops.object.modifier_apply(modifier="Subdivision")
            bpy.ops.object.modifier_apply(modifier="Displace")
        bpy.context.view_layer.update()
        t2 = time.perf_counter()
        out.update(texture_s=t1 - t0, apply_s=t2 - t1, total_s=t2 - t0,
                   vertices=len(ob.data.vertices), faces=len(ob.data.polygons),
                   modifiers_left=len(ob.modifiers), base_grid=[cx, cy], levels=L)
    else:
        raise SystemExit(f"unknown child kind {kind}")
    out["peak_kb"] = _peak_kb()
    return out


def run_child(kind: str, depth_path: str, env_extra: dict | None = None) -> dict:
    env = dict(os.environ, **(env_extra or {}))
    cmd = [sys.executable, os.path.abspath(__file__), "--child", kind, depth_path]
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    for line in p.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"child {kind} failed (exit {p.returncode}):\n{p.stdout[-2000:]}\n{p.stderr[-3000:]}")


def median_run(kind: str, depth_path: str, env_extra: dict | None = None) -> dict:
    """REPEATS fresh children; returns the run with the median total time (its split adds up),
    with the median peak RSS of all runs."""
    runs = [run_child(kind, depth_path, env_extra) for _ in range(REPEATS)]
    out = dict(sorted(runs, key=lambda r: r["total_s"])[len(runs) // 2])
    out["peak_kb"] = statistics.median(r["peak_kb"] for r in runs)
    out["total_runs"] = [round(r["total_s"], 2) for r in runs]
    return out


def mb(kb: float) -> float:
    return kb / 1024.0


def main() -> None:
    print(f"{REPEATS} fresh subprocesses per case, median; load average at start "
          f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs", flush=True)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_mesh_") as tmp:
        for label, (W, H) in SIZES.items():
            t = time.perf_counter()
            Z = synthetic_depth(W, H)
            path = os.path.join(tmp, f"depth_{W}x{H}.npy")
            np.save(path, Z)
            gen_s = time.perf_counter() - t
            print(f"{label}: {W}x{H} depth {Z.min():.2f}-{Z.max():.2f} m (generated in {gen_s:.1f} s)",
                  flush=True)
            del Z
            base = run_child("baseline", path)
            ours = median_run("ours", path)
            gw, gh = ours["grid"]
            naive = median_run("naive", path, {"BENCH_GRID": f"{gw}x{gh}"})
            for r in (ours, naive):
                r["rss_mb"] = mb(r["peak_kb"] - base["peak_kb"])
            print(f"  baseline child (import bpy + load depth): peak RSS {mb(base['peak_kb']):.0f} MB")
            print(f"  (a) ours : core {ours['core_s']:.2f} s + blender {ours['blender_s']:.2f} s = "
                  f"{ours['total_s']:.2f} s, grid {gw}x{gh}, {ours['vertices']:,} vertices, "
                  f"{ours['faces']:,} faces, {ours['torn']:,} torn cells, +{ours['rss_mb']:.0f} MB; "
                  f"runs {ours['total_runs']} s",
                  flush=True)
            print(f"  (b) naive: texture {naive['texture_s']:.2f} s + subdivide/displace/apply "
                  f"{naive['apply_s']:.2f} s = {naive['total_s']:.2f} s, base grid "
                  f"{naive['base_grid'][0]}x{naive['base_grid'][1]} cells x 2^{naive['levels']}, "
                  f"{naive['vertices']:,} vertices, {naive['faces']:,} faces, "
                  f"modifiers left {naive['modifiers_left']}, +{naive['rss_mb']:.0f} MB; "
                  f"runs {naive['total_runs']} s", flush=True)
            rows.append((label, ours, naive))

    print()
    print("depth -> mesh in the scene (seconds; peak RSS above an import-bpy+load-depth child)")
    hdr = (f"{'size':>6} | {'(a) verts':>10} {'torn':>7} {'core s':>7} {'bl s':>6} {'tot s':>6} "
           f"{'MB':>6} | {'(b) verts':>10} {'tot s':>6} {'MB':>6} | {'b/a time':>8} {'b/a MB':>7}")
    print(hdr)
    print("-" * len(hdr))
    for label, a, b in rows:
        rt = b["total_s"] / a["total_s"]
        rm = b["rss_mb"] / a["rss_mb"] if a["rss_mb"] > 0 else math.nan
        print(f"{label:>6} | {a['vertices']:>10,} {a['torn']:>7,} {a['core_s']:>7.2f} "
              f"{a['blender_s']:>6.2f} {a['total_s']:>6.2f} {a['rss_mb']:>6.0f} | "
              f"{b['vertices']:>10,} {b['total_s']:>6.2f} {b['rss_mb']:>6.0f} | {rt:>8.1f} {rm:>7.1f}")
    big = rows[-1][1]
    print(f"goal: 12 MP depth -> torn mesh <= 2 s; measured {big['total_s']:.2f} s "
          f"({'met' if big['total_s'] <= 2.0 else 'NOT met'})")
    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "--child":
        res = child(sys.argv[2], sys.argv[3])
        print("RESULT " + json.dumps(res), flush=True)
        sys.stdout.flush()
        os._exit(0)  # skip bpy's atexit teardown (not part of what is measured)
    main()
