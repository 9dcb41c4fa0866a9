"""Benchmark: view synthesis on a real stereo pair -- the 3D photo of the LEFT Middlebury motorcycle
image, rendered from the RIGHT camera, against the true right photo.

Run from the repo root: ``.venv/bin/python bench/bench_view_synthesis.py [--methods a,b] [--save DIR]
[--no-12mp]`` (~25 s per direction with telea+fsr here, plus ~20 s of 12 MP timings).

Input: ``skimage.data.stereo_motorcycle()`` (Middlebury 2014 at 1/4 size, 741x500, ground-truth
disparity of the left view, inf = unknown), f = 994.978 px, cx 311.193, cy 254.877, baseline
0.193001 m. The disparity is read with doffs 0: depth Z = f * B / d. That is not the scene's true
metric depth (doffs is 31 px), but it is the depth for which every true left point, seen by a
camera moved by B along +x with the same intrinsics, lands exactly on its right-image
correspondence x_r = x_l - d: the view to synthesise is then exactly the true right photo.

Unknown disparities (inf, 7 % of the pixels, mostly left-only areas next to foreground objects):
filled per row from the *background side* -- each run of unknown pixels takes the smaller (farther)
of the two valid disparities that bound it in its row (the single one at the picture border). The
3D photo gets this depth with ``valid`` = known pixels, as a metric :class:`DepthResult` with the
calibrated K (``pipeline.run(depth_result=...)``).

Camera and background band: a user who moves the camera by the baseline. The rest camera is the
photo's; the scored view is the camera at (+B, 0, 0), no rotation, same K, rendered at the full
741x500 (the pipeline's render size is made even, 740, so the bench sets the camera itself with
``blender.camera.set_intrinsics``; no overscan zoom: ``Settings(overscan=False)``). The background
layer is sized for exactly that move: ``pipeline.fill_background`` with a camera plan whose path is
[rest, right camera] (the call the UI makes when the camera move changes); its automatic band is
printed. Rendering: the project's Blender scene (``blender.scene.build``), Workbench, 8 AA samples.

Regions of the right view (no dilation): every left pixel with known disparity is forward-warped to
x_r = x_l - d in its row; horizontally adjacent left pixels whose disparities differ by < 1 px are a
continuous surface and also cover the right pixel centres between their two warped positions (so a
stretched surface leaves no false 1 px gaps); an isolated pixel covers round(x_r).
- *disoccluded*: right pixels covered by no left pixel -- known or filled;
- *unknown* (not scored): covered only by left pixels whose disparity was filled (cannot judge);
- *outside* (not scored): per row, right of the rightmost (left of the leftmost) covered pixel:
  content the left photo never saw (the camera moves right, so a strip at the RIGHT border);
- *rest*: every other pixel. "frame" = rest + disoccluded.
Metrics per region: PSNR (8-bit RGB, pooled), SSIM (skimage structural_similarity map, mean of
channels, mean over region), FLIP (flip_evaluator LDR error map, mean over region; lower = better),
sharpness (mean Sobel gradient magnitude of the render's grey over the disoccluded region / that of
the true right image over the same pixels; 1.0 = as much texture as the real background).

Second direction (reversed, not an independent scene -- only one real pair with ground truth exists
here): the right view's disparity is derived from the left ground truth by the same forward warp
(linear between continuous neighbours, the largest = nearest disparity wins), its disoccluded pixels
filled from the background side as above; the 3D photo of the RIGHT image is rendered from the
camera at (-B, 0, 0) and scored against the true left photo (regions by warping x_l = x_r + d).

Methods: untorn sheet (tear_threshold None), torn with holes (no background layer), torn + fill
telea, fsr, and "patchmatch" when ``Settings(inpaint="patchmatch")`` validates. Layer/fill time is
the wall time of ``pipeline.fill_background`` (layers + inpainting + layer mesh), 741x500 and 12 MP
(bench_fidelity's 12 MP scene: bench_mesh's ray-cast depth + upscaled astronaut, circle path).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from dataclasses import replace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("BLENDER_USER_RESOURCES", tempfile.mkdtemp(prefix="bench-viewsyn-user-"))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

F_PX, CX, CY, BASELINE_M = 994.978, 311.193, 254.877, 0.193001
AA = "8"
#: label -> Settings overrides (over the common settings of run_direction)
ALL_METHODS = {
    "sheet": dict(tear_threshold=None),
    "holes": dict(fill_background=False),
    "telea": dict(inpaint="telea"),
    "ns": dict(inpaint="ns"),
    "nearest": dict(inpaint="nearest"),
    "fsr": dict(inpaint="fsr"),
    "patchmatch": dict(inpaint="patchmatch"),
}
DEFAULT_METHODS = ("sheet", "holes", "telea", "fsr", "patchmatch")
#: adjacent source pixels whose disparities differ by less than this are one continuous surface
CONTINUITY_PX = 1.0


# ------------------------------------------------------------------------------------------------
# disparity: background-side fill and forward warp
# ------------------------------------------------------------------------------------------------
def fill_background_side(d: np.ndarray, known: np.ndarray) -> np.ndarray:
    """Each row's runs of unknown pixels take the smaller (farther) of the known disparities that
    bound the run left and right (the one that exists at the picture border)."""
    H, W = d.shape
    idx = np.where(known, np.arange(W)[None, :], -1)
    left_i = np.maximum.accumulate(idx, axis=1)  # last known at or before x
    idx_r = np.where(known, np.arange(W)[None, :], W)
    right_i = np.minimum.accumulate(idx_r[:, ::-1], axis=1)[:, ::-1]  # first known at or after x
    rows = np.arange(H)[:, None]
    dl = np.where(left_i >= 0, d[rows, np.clip(left_i, 0, W - 1)], np.inf)
    dr = np.where(right_i < W, d[rows, np.clip(right_i, 0, W - 1)], np.inf)
    fill = np.minimum(dl, dr)
    out = np.where(known, d, fill)
    if not np.isfinite(out).all():  # a row with no known pixel: nearest row's value via column median
        out = np.where(np.isfinite(out), out, np.nanmedian(np.where(known, d, np.nan)))
    return out.astype(np.float32)


def forward_warp(d: np.ndarray, src: np.ndarray, sign: float):
    """Warp source pixels (mask ``src``) with disparity d to x_t = x + sign * d in their row.

    Returns (covered (H, W) bool, disparity on the target grid (H, W) float32, -inf where not
    covered; the largest = nearest wins). Continuous neighbours (|dd| < CONTINUITY_PX) cover the
    target pixel centres between their warped positions (disparity linear between them); every
    source pixel covers round(x_t)."""
    H, W = d.shape
    out = np.full((H, W), -np.inf, np.float64)
    ys, xs = np.nonzero(src)
    p = xs + sign * d[ys, xs].astype(np.float64)
    k = np.rint(p).astype(int)
    ok = (k >= 0) & (k < W)
    np.maximum.at(out, (ys[ok], k[ok]), d[ys[ok], xs[ok]])
    pair = src[:, :-1] & src[:, 1:] & (np.abs(d[:, 1:] - d[:, :-1]) < CONTINUITY_PX)
    ys, xs = np.nonzero(pair)
    d0, d1 = d[ys, xs].astype(np.float64), d[ys, xs + 1].astype(np.float64)
    p0, p1 = xs + sign * d0, xs + 1 + sign * d1
    lo, hi = np.minimum(p0, p1), np.maximum(p0, p1)
    for j in range(3):  # |p1 - p0| = |1 + sign * dd| < 2: at most 3 centres in between
        k = np.ceil(lo).astype(int) + j
        ok = (k <= hi) & (k >= 0) & (k < W)
        t = np.where(hi > lo, (k - p0) / np.where(p1 != p0, p1 - p0, 1.0), 0.0)
        np.maximum.at(out, (ys[ok], k[ok]), (d0 + t * (d1 - d0))[ok])
    return np.isfinite(out), out.astype(np.float32)


def view_regions(d_src: np.ndarray, known: np.ndarray, sign: float) -> dict:
    """Scoring masks of the target view (module doc)."""
    cov_known, _ = forward_warp(d_src, known, sign)
    cov_all, _ = forward_warp(d_src, np.ones_like(known), sign)
    H, W = d_src.shape
    xs = np.arange(W)[None, :]
    first = np.where(cov_all.any(1), np.argmax(cov_all, 1), W)[:, None]
    last = np.where(cov_all.any(1), W - 1 - np.argmax(cov_all[:, ::-1], 1), -1)[:, None]
    inside = (xs >= first) & (xs <= last)
    dis = inside & ~cov_all
    unknown = inside & cov_all & ~cov_known
    rest = inside & cov_known
    return dict(disoccluded=dis, rest=rest, frame=dis | rest, unknown=unknown, outside=~inside)


# ------------------------------------------------------------------------------------------------
# metrics
# ------------------------------------------------------------------------------------------------
def _grad(img_u8: np.ndarray) -> np.ndarray:
    g = cv2.cvtColor(img_u8, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    return np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0, ksize=3), cv2.Sobel(g, cv2.CV_32F, 0, 1, ksize=3))


def scores(truth: np.ndarray, img: np.ndarray, masks: dict) -> dict:
    """{region: (psnr, ssim, flip)} plus 'sharpness' (disoccluded region)."""
    import flip_evaluator
    from skimage.metrics import structural_similarity

    err = (truth.astype(np.float64) - img.astype(np.float64)) ** 2
    _, smap = structural_similarity(truth, img, channel_axis=2, data_range=255, full=True)
    smap = smap.mean(axis=2)
    fmap, _, _ = flip_evaluator.evaluate(truth.astype(np.float32) / 255.0,
                                         img.astype(np.float32) / 255.0, "LDR")
    fmap = np.asarray(fmap)
    if fmap.ndim == 3:
        fmap = fmap[..., 0]
    out = {}
    for k in ("disoccluded", "rest", "frame"):
        m = masks[k]
        if not m.any():
            out[k] = (math.nan,) * 3
            continue
        mse = float(err[m].mean())
        out[k] = (10 * math.log10(255.0 ** 2 / max(mse, 1e-12)), float(smap[m].mean()),
                  float(fmap[m].mean()))
    m = masks["disoccluded"]
    gt_g = float(_grad(truth)[m].mean()) if m.any() else math.nan
    out["sharpness"] = float(_grad(img)[m].mean()) / gt_g if m.any() and gt_g > 0 else math.nan
    return out


# ------------------------------------------------------------------------------------------------
# 3D photo and render
# ------------------------------------------------------------------------------------------------
def methods_available(names):
    from depth_addon.core import pipeline
    from depth_addon.core.errors import InputError

    ok, skipped = [], []
    for n in names:
        if n not in ALL_METHODS:
            raise SystemExit(f"unknown method {n!r}; choose from {', '.join(ALL_METHODS)}")
        try:
            pipeline.Settings(**ALL_METHODS[n]).validate()
            ok.append(n)
        except InputError as exc:
            skipped.append((n, str(exc)))
    return ok, skipped


def make_result(photo_rgb: np.ndarray, Z: np.ndarray, known: np.ndarray, K: np.ndarray,
                cam_x: float, over: dict):
    """pipeline.run on the photo + depth, then the background layer for the path [rest, (cam_x,0,0)].
    Returns (result, layer/fill seconds or None)."""
    from depth_addon.core import pipeline

    H, W = Z.shape
    dr = pipeline.DepthResult(values=Z.astype(np.float32), kind="metric", valid=known, K=K,
                              source="Middlebury ground truth (doffs 0)")
    base = dict(mode="mesh", depth_kind="metric", overscan=False, amount_is_budget=False,
                preset="swing", seconds=2, fps=1, resolution=(W - W % 2, H - H % 2),
                engine="workbench")
    s = pipeline.Settings(**{**base, **over})
    want_fill = s.fill_background and s.tear_threshold is not None
    res = pipeline.run(photo_rgb, depth_result=dr, settings=replace(s, fill_background=False))
    res.settings = s
    if not want_fill:
        return res, None
    keys = pipeline.cp.CameraKeys(positions=np.array([[0.0, 0.0, 0.0], [cam_x, 0.0, 0.0]]),
                                  rotations=np.repeat(np.eye(3)[None], 2, axis=0),
                                  focal_px=np.full(2, float(K[0, 0])), loop=False, preset="swing")
    plan = pipeline.CameraPlan(keys=keys, scene=res.scene, render_size=res.render_size,
                               K_render=res.K_render, zoom=1.0)
    t = time.perf_counter()
    res.background = pipeline.fill_background(res.photo, res.Z, res.K, plan, s)
    return res, time.perf_counter() - t


def render_view(res, K: np.ndarray, cam_x: float, path: str) -> np.ndarray:
    """Build the 3D photo in the scene and render the camera at (cam_x, 0, 0) at the photo's size."""
    import bpy

    from depth_addon.blender import camera as bcam
    from depth_addon.blender import render as brender
    from depth_addon.blender import scene as bscene

    bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    built = bscene.build(res, scene=scene, animate=False)
    H, W = res.Z.shape
    cam_ob = built.camera_object
    bcam.set_intrinsics(cam_ob.data, K, W, H)
    cam_ob.matrix_world = bcam.pose_matrix(np.array([cam_x, 0.0, 0.0]), np.eye(3))
    brender.configure(scene, engine="workbench", width=W, height=H, fps=1, frame_start=1,
                      frame_end=1)
    scene.display.render_aa = AA
    brender.render_still(scene, path, 1)
    return cv2.cvtColor(cv2.imread(path, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _crop_box(mask: np.ndarray, w: int = 240, h: int = 180):
    """The w x h window with the most disoccluded pixels."""
    ii = cv2.integral(mask.astype(np.uint8))
    S = ii[h:, w:] - ii[:-h, w:] - ii[h:, :-w] + ii[:-h, :-w]
    y, x = np.unravel_index(np.argmax(S), S.shape)
    return int(x), int(y), w, h


def run_direction(name, src_rgb, truth_rgb, d_src, known, sign, methods, save_dir, log):
    """One direction: build from src, render the camera at -sign * B ... (see module doc)."""
    H, W = d_src.shape
    K = np.array([[F_PX, 0, CX], [0, F_PX, CY], [0, 0, 1]], np.float64)
    Z = (F_PX * BASELINE_M / d_src).astype(np.float32)
    cam_x = -sign * BASELINE_M  # x_t = x + sign * d  <=>  camera moved by -sign * B along x
    masks = view_regions(d_src, known, sign)
    n = {k: int(v.sum()) for k, v in masks.items()}
    log.append(f"{name}: {W}x{H}, camera at x = {cam_x:+.4f} m; disoccluded {n['disoccluded']:,} px, "
               f"rest {n['rest']:,}, unknown (not scored) {n['unknown']:,}, outside strip "
               f"{n['outside']:,}")
    rows, crops = [], []
    box = _crop_box(masks["disoccluded"])
    x0, y0, cw, ch = box
    with tempfile.TemporaryDirectory(prefix="bench_viewsyn_") as tmp:
        out_dir = save_dir or tmp
        for m in methods:
            res, t_fill = make_result(src_rgb.astype(np.float32) / 255.0, Z, known, K, cam_x,
                                      ALL_METHODS[m])
            img = render_view(res, K, cam_x, os.path.join(out_dir, f"{name}_{m}.png"))
            sc = scores(truth_rgb, img, masks)
            bg = res.background
            band = None if bg is None else (bg.band_px, bg.needed_px, len(bg.mesh.positions))
            rows.append((m, sc, t_fill, band))
            crops.append((m, img[y0:y0 + ch, x0:x0 + cw]))
            print(f"  {name} {m}: done", flush=True)
        if save_dir:
            cv2.imwrite(os.path.join(save_dir, f"{name}_truth.png"),
                        cv2.cvtColor(truth_rgb, cv2.COLOR_RGB2BGR))
            vis = truth_rgb.copy()
            vis[masks["disoccluded"]] = (255, 0, 255)
            vis[masks["unknown"]] = (0, 255, 255)
            vis[masks["outside"]] = vis[masks["outside"]] // 3
            cv2.imwrite(os.path.join(save_dir, f"{name}_regions.png"), cv2.cvtColor(vis, cv2.COLOR_RGB2BGR))
            tiles = [("truth", truth_rgb[y0:y0 + ch, x0:x0 + cw])] + crops
            tiles = [cv2.putText(np.ascontiguousarray(t), lab, (4, 16), cv2.FONT_HERSHEY_SIMPLEX,
                                 0.5, (255, 255, 0), 1, cv2.LINE_AA) for lab, t in tiles]
            sheet = np.concatenate(tiles, axis=1)
            cv2.imwrite(os.path.join(save_dir, f"{name}_crops.png"), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
    log.append(f"{name}: crop window x {x0}..{x0 + cw}, y {y0}..{y0 + ch}")
    return rows


def print_table(name, rows):
    print()
    print(f"{name}  (PSNR dB, SSIM mean, FLIP mean: lower = better; sharp = render/truth gradient "
          f"on the disoccluded region)")
    hdr = (f"{'method':<11} | {'dis PSNR':>8} {'SSIM':>6} {'FLIP':>6} {'sharp':>5} | {'rest PSNR':>9} "
           f"{'SSIM':>6} {'FLIP':>6} | {'frame':>6} {'FLIP':>6} | {'band':>4} {'fill s':>6}")
    print(hdr)
    print("-" * len(hdr))
    for m, sc, t, band in rows:
        d, r, f = sc["disoccluded"], sc["rest"], sc["frame"]
        print(f"{m:<11} | {d[0]:>8.2f} {d[1]:>6.3f} {d[2]:>6.3f} {sc['sharpness']:>5.2f} | "
              f"{r[0]:>9.2f} {r[1]:>6.3f} {r[2]:>6.3f} | {f[0]:>6.2f} {f[2]:>6.3f} | "
              f"{band[0] if band else '-':>4} {t if t is not None else float('nan'):>6.2f}")


def time_12mp(methods, repeats):
    from bench_fidelity import time_12mp as fid_12mp

    out = []
    for m in methods:
        over = ALL_METHODS[m]
        if "inpaint" not in over:
            continue
        med, runs, bg = fid_12mp(method=over["inpaint"], repeats=repeats)
        out.append((m, med, runs, bg))
        print(f"12 MP (4000x3000) layer + fill {m}: median {med:.2f} s of "
              f"{[round(t, 2) for t in runs]} (band {bg.band_px} px, working scale {bg.scale:.2f}, "
              f"layer {len(bg.mesh.positions):,} vertices)", flush=True)
    return out


def main() -> None:
    import bpy  # noqa: F401
    import skimage.data

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                    help=f"comma-separated, from {', '.join(ALL_METHODS)} (default %(default)s)")
    ap.add_argument("--save", metavar="DIR", help="write the rendered views, truth, regions and crops here")
    ap.add_argument("--no-reverse", action="store_true", help="skip the right->left direction")
    ap.add_argument("--no-12mp", action="store_true", help="skip the 12 MP timings")
    ap.add_argument("--repeats", type=int, default=1, help="12 MP timing repeats (median)")
    args = ap.parse_args()
    methods, skipped = methods_available([m.strip() for m in args.methods.split(",") if m.strip()])
    for m, why in skipped:
        print(f"skipped {m}: {why}")
    if args.save:
        os.makedirs(args.save, exist_ok=True)
    t_all = time.perf_counter()
    left, right, disp = skimage.data.stereo_motorcycle()
    known = np.isfinite(disp) & (disp > 0)
    d_left = fill_background_side(np.where(known, disp, np.inf).astype(np.float32), known)
    log = [f"left disparity: {100 * (~known).mean():.1f} % unknown, filled from the background side; "
           f"range {disp[known].min():.1f}..{disp[known].max():.1f} px"]
    results = [("left->right", run_direction("left_to_right", left, right, d_left, known, -1.0,
                                             methods, args.save, log))]
    if not args.no_reverse:
        cov, d_r = forward_warp(d_left, known, -1.0)
        d_right = fill_background_side(np.where(cov, d_r, np.inf).astype(np.float32), cov)
        log.append(f"right disparity (warped from the left truth): {100 * (~cov).mean():.1f} % "
                   "not covered, filled from the background side")
        results.append(("right->left", run_direction("right_to_left", right, left, d_right, cov,
                                                     +1.0, methods, args.save, log)))
    print()
    for line in log:
        print(line)
    for name, rows in results:
        print_table(name, rows)
        for m, _, _, band in rows:
            if band:
                print(f"  {m}: band {band[0]} px (automatic, for a move revealing {band[1]:.1f} px), "
                      f"layer {band[2]:,} vertices")
    if args.save:
        print(f"renders, truth, regions and crops in {args.save}")
    if not args.no_12mp:
        print()
        time_12mp(methods, args.repeats)
    print(f"total bench time {time.perf_counter() - t_all:.0f} s on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
    sys.stdout.flush()
    os._exit(0)
