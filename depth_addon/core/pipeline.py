"""The one synchronous call behind the CLI and the UI: inputs + settings -> depth, geometry, camera.

Returns plain arrays and small dataclasses; :mod:`depth_addon.blender.scene` turns the result into
Blender objects. Nothing here imports bpy.
"""
from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Optional, Union

import numpy as np

from . import camera_path as cp
from . import geometry as geo
from .depth import DepthResult, read_depth, resize_depth, to_depth
from .errors import InputError, notice
from .images import Photo, load_image, photo_from_array
from .progress import ProgressFn, report

MODES = ("mesh", "points", "plane")
#: Settings.embedded_depth values
EMBEDDED_CHOICES = ("auto", "require", "ignore")
#: Settings.swap -> estimate_stereo's swap argument
SWAP_CHOICES = {"auto": None, "yes": True, "no": False}
#: stereo matching above this many pixels runs on a downscaled pair (SGBM's cost volume is
#: W * H * numDisparities * 2 bytes: 12 MP x 384 disparities would need ~9 GB).
STEREO_MAX_PIXELS = 2_000_000
#: longest side of the default render resolution.
DEFAULT_RENDER_LONG_SIDE = 1280

ImageInput = Union[str, os.PathLike, np.ndarray, Photo]


@dataclass
class Settings:
    """Everything a run needs besides its inputs (defaults = what a user gets with no options).

    Units: fov_deg in degrees (horizontal, longer side), focal_px in pixels of the photo,
    baseline_m in metres, doffs in pixels, seconds in seconds, amount relative (1 = default motion),
    step in pixels per vertex, tear_threshold a relative depth jump (None = no tearing).
    """

    mode: str = "mesh"
    model: str = "depth-anything/Depth-Anything-V2-Small-hf"
    device: str = "auto"
    max_side: Optional[int] = None
    cache_dir: Optional[str] = None
    depth_kind: str = "auto"
    #: depth stored inside the photo (HEIF depth image, GDepth JPEG; core/embedded.py):
    #: "auto" = use it when present (the default), "require" = use it or fail, "ignore" = never
    embedded_depth: str = "auto"
    depth_range: float = 6.0
    fov_deg: float = geo.DEFAULT_FOV_DEG
    focal_px: Optional[float] = None
    baseline_m: Optional[float] = None
    doffs: float = 0.0
    sbs: Optional[str] = None
    rectify: str = "auto"
    #: stereo: "auto" = detect swapped left/right views from sparse matches, "yes" = the views are
    #: swapped, "no" = never swap (a side-by-side image with everything behind the screen)
    swap: str = "auto"
    fuse_mono: bool = False
    step: float = 2.0
    max_vertices: int = geo.DEFAULT_MAX_VERTICES
    #: flat parts of the torn mesh drawn as merged polygons that stray at most this many output
    #: pixels from the full grid along the camera move (geometry.simplify_tolerance), their
    #: texture drifting at most geometry.SIMPLIFY_DRIFT_SHARE of it; 0 = a quad per grid cell.
    #: Fewer faces = less vertex work per rendered frame.
    simplify_px: float = geo.DEFAULT_SIMPLIFY_PX
    tear_threshold: Optional[float] = geo.DEFAULT_TEAR_THRESHOLD
    preset: str = "circle"
    amount: float = 1.0
    seconds: float = 4.0
    fps: int = 30
    resolution: Optional[tuple] = None
    engine: str = "workbench"
    overscan: bool = True
    # filled background layer behind torn edges (core/background/); band_px None = auto from the move
    fill_background: bool = True
    #: amount 1.0 = the largest motion the depth supports (the motion budget), capped at
    #: BUDGET_MAX x the default parallax; False = amount in parallax units (1 = 2.5 % of the width)
    amount_is_budget: bool = True
    band_px: Optional[int] = None
    inpaint: str = "patchmatch"  # core.background.fill.DEFAULT_METHOD (Telea without pypatchmatch)
    #: torn silhouettes fade out over one mesh cell (MeshData.alpha; blended in EEVEE and Cycles)
    soft_edges: bool = True
    #: depth of field: the camera's f-stop (None = off) and the depth it focuses on, in scene units
    #: (metres for metric depth; None = the scene's focus depth, the camera path's pivot)
    dof_fstop: Optional[float] = None
    focus_depth: Optional[float] = None
    #: stereo 3D output (camera_path.STEREO_FORMATS; None = a flat video), the camera separation
    #: (scene units; None = the 3 % parallax rule, camera_path.stereo_rig) and the zero-parallax
    #: plane ("near" | "focus" | "far")
    stereo: Optional[str] = None
    interaxial: Optional[float] = None
    convergence: str = "focus"

    def validate(self) -> None:
        """Raise InputError for out-of-range settings (before any slow work starts)."""
        if self.mode not in MODES:
            raise InputError(f"unknown mode {self.mode!r}; choose one of: {', '.join(MODES)}")
        if self.preset not in cp.PRESETS:
            raise InputError(f"unknown preset {self.preset!r}; choose one of: {', '.join(cp.PRESETS)}")
        if not (self.seconds > 0 and math.isfinite(self.seconds)):
            raise InputError(f"--seconds must be > 0, got {self.seconds}")
        if not (1 <= self.fps <= 240):
            raise InputError(f"--fps must be between 1 and 240, got {self.fps}")
        if not (self.amount >= 0 and math.isfinite(self.amount)):
            raise InputError(f"--amount must be >= 0, got {self.amount}")
        if self.resolution is not None:
            w, h = self.resolution
            if not (16 <= w <= 16384 and 16 <= h <= 16384):
                raise InputError(f"--resolution must be between 16x16 and 16384x16384, got {w}x{h}")
        if self.sbs not in (None, "lr", "rl"):
            raise InputError(f"side-by-side order must be 'lr' or 'rl', got {self.sbs!r}")
        if self.rectify not in ("auto", "always", "never"):
            raise InputError(f"rectify must be 'auto', 'always' or 'never', got {self.rectify!r}")
        if self.swap not in SWAP_CHOICES:
            raise InputError(f"swap must be 'auto', 'yes' or 'no', got {self.swap!r}")
        if self.embedded_depth not in EMBEDDED_CHOICES:
            raise InputError(f"embedded depth must be one of {', '.join(EMBEDDED_CHOICES)}, got "
                             f"{self.embedded_depth!r}")
        if self.depth_range <= 1:
            raise InputError(f"depth range (far/near) must be > 1, got {self.depth_range}")
        v = self.simplify_px
        if not (isinstance(v, (int, float, np.number)) and not isinstance(v, bool)
                and math.isfinite(v) and v >= 0):
            raise InputError(f"simplify must be a finite number of output pixels >= 0 (0 = no "
                             f"merging, default {geo.DEFAULT_SIMPLIFY_PX}), got {v!r}")
        if self.tear_threshold is not None and self.tear_threshold <= 0:
            raise InputError(f"tear threshold must be > 0, got {self.tear_threshold}")
        from .background.fill import INPAINT_METHODS
        if self.inpaint not in INPAINT_METHODS:
            raise InputError(f"--inpaint must be one of {', '.join(INPAINT_METHODS)}, got "
                             f"{self.inpaint!r}")
        if self.band_px is not None and not self.band_px >= 1:
            raise InputError(f"--band must be at least 1 px, got {self.band_px}")
        if self.dof_fstop is not None and not (self.dof_fstop > 0 and math.isfinite(self.dof_fstop)):
            raise InputError(f"--dof (f-stop) must be > 0, got {self.dof_fstop}")
        if self.stereo is not None and self.stereo not in cp.STEREO_FORMATS:
            raise InputError(f"unknown stereo format {self.stereo!r}; choose one of: "
                             f"{', '.join(cp.STEREO_FORMATS)}")
        if self.interaxial is not None and not (self.interaxial > 0 and
                                                math.isfinite(self.interaxial)):
            raise InputError(f"--interaxial must be > 0 (scene units), got {self.interaxial}")
        if self.convergence not in cp.CONVERGENCE_CHOICES:
            raise InputError(f"unknown convergence {self.convergence!r}; choose one of: "
                             f"{', '.join(cp.CONVERGENCE_CHOICES)}")
        if self.focus_depth is not None and not (self.focus_depth > 0 and
                                                 math.isfinite(self.focus_depth)):
            raise InputError(f"--focus-depth must be > 0 (scene units), got {self.focus_depth}")

    @property
    def n_frames(self) -> int:
        """Frames of the animation: round(seconds * fps), at least 1."""
        return max(1, int(round(self.seconds * self.fps)))


def stereo_rig(result: "PipelineResult") -> Optional[cp.StereoRig]:
    """The stereo camera pair for ``result`` (None without ``settings.stereo``): interaxial and
    convergence from :func:`camera_path.stereo_rig` at the render's width and focal length."""
    s = result.settings
    if not s.stereo:
        return None
    return cp.stereo_rig(result.scene, float(result.K_render[0, 0]), int(result.render_size[0]),
                         convergence=s.convergence, interaxial=s.interaxial)


@dataclass
class PipelineResult:
    """What the Blender side needs to build a 3D photo.

    Attributes:
        photo: the picture (rgb (H, W, 3) float32 sRGB in [0, 1]).
        depth: the raw estimate (its kind, valid mask, confidence).
        Z: (H, W) float32 depth along the optical axis (metres when ``metric``, else scene units).
        metric: whether Z is in metres.
        K: (3, 3) float64 intrinsics of the photo in pixels.
        mesh: torn mesh for mode 'mesh' (or the flat base grid for 'plane'), else None.
        points: (positions (N, 3), colors (N, 3)) for mode 'points', else None.
        camera: per-frame camera keys; scene: near/far/focus depths.
        render_size: (W, H) render resolution; K_render: (3, 3) intrinsics at that size, zoomed
            by ``zoom`` (>= 1) so the photo's border never enters the frame (overscan).
        settings: the settings used; notes: notices raised on the way.
    """

    photo: Photo
    depth: DepthResult
    Z: np.ndarray
    metric: bool
    K: np.ndarray
    mesh: Optional[geo.MeshData]
    points: Optional[tuple]
    camera: cp.CameraKeys
    scene: cp.SceneDepth
    render_size: tuple
    K_render: np.ndarray
    settings: Settings
    zoom: float = 1.0
    #: motion actually used, in parallax units (camera_path's amount): settings.amount x budget
    parallax_amount: float = 1.0
    notes: list = field(default_factory=list)
    #: filled background layer (core.background.BackgroundLayer: mesh, texture, band, motion budget)
    #: for a torn mesh with settings.fill_background, else None
    background: Optional[object] = None


def load_photo(image: ImageInput) -> Photo:
    """A :class:`Photo` from a path, an (H, W[, C]) array or a Photo (returned as is).

    Raises:
        InputError: see :func:`depth_addon.core.images.load_image`.
    """
    if isinstance(image, Photo):
        return image
    if isinstance(image, np.ndarray):
        return photo_from_array(image)
    return load_image(os.fspath(image))


def render_size_for(width: int, height: int, requested: Optional[tuple] = None) -> tuple:
    """Render resolution: the requested (W, H), or the photo's aspect with the long side at most
    :data:`DEFAULT_RENDER_LONG_SIDE`; always even (H.264 with 4:2:0 chroma needs even sizes)."""
    if requested is not None:
        w, h = int(requested[0]), int(requested[1])
    else:
        s = min(1.0, DEFAULT_RENDER_LONG_SIDE / max(width, height))
        w, h = int(round(width * s)), int(round(height * s))
    return max(2, w - w % 2), max(2, h - h % 2)


def render_intrinsics(K: np.ndarray, photo_size: tuple, render_size: tuple) -> np.ndarray:
    """Intrinsics at the render size: scaled to cover the frame, centre-cropped if aspects differ.

    Args:
        K: (3, 3) photo intrinsics; photo_size, render_size: (W, H) in pixels.
    Returns:
        (3, 3) float64.
    """
    (W, H), (Wr, Hr) = photo_size, render_size
    s = max(Wr / W, Hr / H)
    Ks = geo.scale_intrinsics(K, s, s)
    Ks[0, 2] -= (W * s - Wr) / 2.0
    Ks[1, 2] -= (H * s - Hr) / 2.0
    return Ks


def _stereo_depth(photo: Photo, right: Photo, settings: Settings,
                  progress: Optional[ProgressFn]) -> DepthResult:
    import cv2

    from .stereo import estimate_stereo

    if right.rgb.shape != photo.rgb.shape:
        raise InputError(
            f"left is {photo.rgb.shape[1]}x{photo.rgb.shape[0]} but right is "
            f"{right.rgb.shape[1]}x{right.rgb.shape[0]}: a stereo pair must have the same size; "
            "crop or resize one")
    H, W = photo.rgb.shape[:2]
    left_rgb, right_rgb, focal = photo.rgb, right.rgb, settings.focal_px or photo.focal_px
    s = 1.0
    if W * H > STEREO_MAX_PIXELS:
        s = math.sqrt(STEREO_MAX_PIXELS / (W * H))
        size = (max(32, int(W * s)), max(32, int(H * s)))
        notice(f"stereo pair is {W}x{H}; matched at {size[0]}x{size[1]} and upsampled")
        left_rgb = cv2.resize(left_rgb, size, interpolation=cv2.INTER_AREA)
        right_rgb = cv2.resize(right_rgb, size, interpolation=cv2.INTER_AREA)
        s = size[0] / W
    mono = None
    if settings.fuse_mono:  # monocular depth fills occlusions and low-confidence stereo pixels
        from .monocular import estimate_monocular
        mono = estimate_monocular(left_rgb, settings.model, device=settings.device,
                                  max_side=settings.max_side or None,
                                  cache_dir=settings.cache_dir, progress=progress)
    res = estimate_stereo(left_rgb, right_rgb,
                          focal_px=None if focal is None else focal * s,
                          baseline_m=settings.baseline_m, doffs=settings.doffs * s,
                          rectify=settings.rectify, swap=SWAP_CHOICES[settings.swap], mono=mono,
                          progress=progress)
    if s != 1.0:
        res = resize_depth(res, (W, H))  # rescales disparities and K to the full-size grid
    return res


def estimate_depth(photo: Photo, *, right: Optional[ImageInput] = None,
                   depth: Optional[str] = None, settings: Optional[Settings] = None,
                   progress: Optional[ProgressFn] = None) -> DepthResult:
    """Depth for a photo from a depth file, a stereo pair (right image or side-by-side) or a model.

    Args:
        photo: the (left) picture.
        right: right image of a rectified pair (path/array/Photo), or None.
        depth: path of an existing depth map (.png/.exr/.npy/.tif), or None.
        settings: :class:`Settings` (model, device, depth kind, calibration ...).
    Returns:
        :class:`DepthResult` on the photo's pixel grid. Order: the depth file, the stereo pair,
        the depth the photo carries (``settings.embedded_depth``, see :func:`embedded_depth`),
        the monocular model.
    Raises:
        InputError / ModelError with a one-line message.
    """
    settings = settings or Settings()
    H, W = photo.rgb.shape[:2]
    if depth is not None:
        report(progress, "read depth", 0.0)
        return read_depth(os.fspath(depth), settings.depth_kind, size=(W, H))
    if right is not None:
        return _stereo_depth(photo, load_photo(right), settings, progress)
    if settings.embedded_depth != "ignore":
        report(progress, "read depth", 0.0)
        embedded = embedded_depth(photo, settings)
        if embedded is not None:
            return embedded
    from .monocular import estimate_monocular
    return estimate_monocular(photo.rgb, settings.model, device=settings.device,
                              max_side=settings.max_side or None, cache_dir=settings.cache_dir,
                              progress=progress)


def choose_intrinsics(photo: Photo, depth_result: DepthResult, settings: Settings) -> np.ndarray:
    """(3, 3) float64 K in pixels of the photo's grid: explicit focal > the depth's own K (stereo
    calibration, a sidecar) > EXIF focal > the assumed field of view ``settings.fov_deg``."""
    H, W = photo.rgb.shape[:2]
    if settings.focal_px:
        return geo.intrinsics_from_focal(W, H, settings.focal_px)
    if depth_result.K is not None and depth_result.values.shape == (H, W):
        return np.asarray(depth_result.K, dtype=np.float64)
    if photo.focal_px:
        return geo.intrinsics_from_focal(W, H, photo.focal_px)
    return geo.intrinsics_from_fov(W, H, settings.fov_deg)


def embedded_depth(photo: Photo, settings: Settings) -> Optional[DepthResult]:
    """The depth stored in the photo's file (:mod:`depth_addon.core.embedded`), or None.

    With ``settings.embedded_depth == "auto"`` a photo without embedded depth gives None, and one
    whose embedded depth cannot be read gives None with a notice (the caller then runs the
    model). With ``"require"`` both raise InputError.

    Args:
        photo: the loaded photo (``photo.path`` is read again; arrays have no file: None).
        settings: embedded_depth, focal_px (for GDepth OpticRay distances), model (the notice).
    Returns:
        DepthResult on the photo's grid (see :func:`depth_addon.core.embedded.read_embedded_depth`).
    Raises:
        InputError: only with ``"require"``.
    """
    from .embedded import EmbeddedDepthError, read_embedded_depth

    require = settings.embedded_depth == "require"
    if not photo.path:
        if require:
            raise InputError("--depth embedded needs a photo file (HEIC or JPEG)")
        return None
    H, W = photo.rgb.shape[:2]
    try:
        res = read_embedded_depth(photo.path, size=(W, H),
                                  focal_px=settings.focal_px or photo.focal_px)
    except EmbeddedDepthError as exc:
        if require:
            raise InputError(f"{exc}") from None
        notice(f"{exc}; using the depth model {settings.model} instead")
        return None
    if res is None and require:
        raise InputError(f"{photo.path} carries no depth of its own (HEIF depth image or GDepth "
                         "XMP); drop --depth embedded to use the depth model")
    return res


def run(image: ImageInput, *, right: Optional[ImageInput] = None, depth: Optional[str] = None,
        settings: Optional[Settings] = None, progress: Optional[ProgressFn] = None,
        depth_result: Optional[DepthResult] = None) -> PipelineResult:
    """Photo (+ right image | depth file | model) -> depth, geometry and camera keys.

    Args:
        image: the photo (path, (H, W[, C]) array or Photo); with ``settings.sbs`` a side-by-side
            stereo image that is split into left/right.
        right, depth: see :func:`estimate_depth`.
        settings: :class:`Settings`; validated first.
        progress: optional callback (stage, fraction); may raise Cancelled.
        depth_result: reuse a depth estimated earlier (the UI's "Estimate Depth" step).
    Returns:
        :class:`PipelineResult`.
    Raises:
        InputError, ModelError, Cancelled.
    """
    settings = settings or Settings()
    settings.validate()
    report(progress, "load image", 0.0)
    photo, right = prepare_inputs(image, right, settings)
    H, W = photo.rgb.shape[:2]
    if depth_result is None:
        depth_result = estimate_depth(photo, right=right, depth=depth, settings=settings,
                                      progress=progress)
    if depth_result.values.shape != (H, W):
        depth_result = resize_depth(depth_result, (W, H))

    K = choose_intrinsics(photo, depth_result, settings)

    Z, metric = to_depth(depth_result, depth_range=settings.depth_range)
    focus = cp.scene_depth(Z, depth_result.valid).focus

    report(progress, "build geometry", 0.0)
    mesh = points = None
    # a simplified mesh needs the camera move: built after plan_motion (its tears and grid are
    # those of the full mesh; the background layer does not use the photo mesh)
    simplify = settings.mode == "mesh" and settings.simplify_px > 0
    if settings.mode == "mesh":
        if not simplify:
            mesh = geo.build_mesh(Z, K, step=settings.step, max_vertices=settings.max_vertices,
                                  tear_threshold=settings.tear_threshold)
    elif settings.mode == "plane":
        flat = np.full((H, W), focus, np.float32)
        mesh = geo.build_mesh(flat, K, step=max(settings.step, max(W, H) / 64.0),
                              max_vertices=settings.max_vertices, tear_threshold=None)
    else:
        points = geo.point_cloud(Z, K, photo.rgb, step=settings.step,
                                 max_points=settings.max_vertices)
    # a simplified mesh is built below, after the move: this step is half done until then
    report(progress, "build geometry", 0.5 if simplify else 1.0)

    plan, background, parallax = plan_motion(photo, Z, K, settings, depth_result.valid, progress)
    if simplify:
        # the grid and tears of the full mesh, its flat parts merged within the move's error
        keys = plan.keys
        if settings.stereo:  # both eyes' cameras
            rig = cp.stereo_rig(plan.scene, float(plan.K_render[0, 0]), int(plan.render_size[0]),
                                convergence=settings.convergence, interaxial=settings.interaxial)
            keys = cp.stereo_eye_keys(keys, rig.interaxial)
        # the longest render focal length of the move (a dolly-zoom's grows along it)
        f_render = float(plan.K_render[0, 0]) * float(np.max(keys.focal_px)) / float(K[0, 0])
        tol = geo.simplify_tolerance(Z, K, keys.positions, f_render,
                                     settings.simplify_px, int(plan.render_size[0]))
        # output pixels per photo pixel (at that focal length): the texture may drift a share
        # of simplify_px output pixels
        scale = f_render / float(K[0, 0])
        mesh = geo.build_mesh(Z, K, step=settings.step, max_vertices=settings.max_vertices,
                              tear_threshold=settings.tear_threshold, simplify=tol,
                              simplify_uv_px=geo.SIMPLIFY_DRIFT_SHARE * settings.simplify_px / scale)
        report(progress, "build geometry", 1.0)
    return PipelineResult(parallax_amount=parallax, photo=photo, depth=depth_result, Z=Z, metric=metric, K=K, mesh=mesh,
                          points=points, camera=plan.keys, scene=plan.scene,
                          render_size=plan.render_size, K_render=plan.K_render, settings=settings,
                          zoom=plan.zoom, notes=list(depth_result.notes), background=background)


#: the background layer's grid is this many times coarser than the photo mesh's (``step``): its
#: colour is an inpainted fill and its depth continues a surface's slope, so the finer grid
#: bought nothing -- measured 2026-12-02 with 2x: the same bench_view_synthesis scores, bench_coverage
#: 0.001 % uncovered (0.002 % before), the motorcycle layer 11.7 k instead of 39 k vertices -- and
#: the layer is a third of the vertex work of every rendered frame (a 640x360 Workbench frame:
#: ~140-157 ms of CPU instead of ~171 ms).
#: 3x since 2026-12-04: 6 k instead of 12 k vertices on bench_render's 640x360 input, the same
#: bench_coverage (0.003 % uncovered) and bench_view_synthesis scores (see the README's table).
BACKGROUND_STEP_FACTOR = 3.0

#: upper limit of "amount 1.0 = largest safe motion", in parallax units (near plane moving
#: 3 x 2.5 % of the width): a matter of taste, not of the depth. The budget itself
#: (core.background.MotionBudget) is the smallest of three limits -- disocclusions the band fills,
#: faces that do not stretch, a moderate overscan crop --; on the motorcycle example it is x1.6
#: (crop) for the circle and x2.8 (stretch) for Ken Burns, but x7-8 for the dolly moves, which
#: reveal little: this cap keeps those from filling the picture.
BUDGET_MAX = 3.0


def plan_motion(photo: Photo, Z: np.ndarray, K: np.ndarray, settings: Settings,
                valid: Optional[np.ndarray] = None, progress: Optional[ProgressFn] = None):
    """Camera plan and background layer, with ``amount`` read against the motion budget.

    With ``settings.amount_is_budget`` and a torn, filled mesh, the layer is first built for the
    default move to find the motion budget ``b`` (the largest parallax amount whose disocclusions
    the band can fill, whose untorn faces do not stretch and whose overscan crop stays moderate:
    :class:`depth_addon.core.background.MotionBudget`); the move is then planned
    with parallax amount ``settings.amount * min(b, BUDGET_MAX)`` and the layer rebuilt for it, so
    ``amount = 1`` is the largest safe motion. Without a layer (points, plane, no tearing, no fill)
    or with an unbounded budget (nothing tore), ``amount`` is in parallax units.

    Args:
        photo: the picture; Z: (H, W) float32 depth > 0; K: (3, 3) intrinsics in pixels.
        settings: :class:`Settings`; valid: optional (H, W) bool mask.
    Returns:
        (CameraPlan, background layer or None, parallax amount used).
    """
    from dataclasses import replace as _replace

    plan = plan_camera(Z, K, settings, valid)
    parallax = settings.amount
    sizing = None
    if settings.amount_is_budget:
        # first pass: only the budget of the default move (no colour fill, no mesh)
        sizing = fill_background(photo, Z, K, plan, settings, progress, fill=False)
        if sizing is not None and math.isfinite(sizing.safe_amount):
            parallax = settings.amount * min(sizing.safe_amount, BUDGET_MAX)
            settings = _replace(settings, amount=parallax)
            plan = plan_camera(Z, K, settings, valid)
    # the budget depends on the preset, not on the amount: the first pass's is reused
    background = fill_background(photo, Z, K, plan, settings, progress,
                                 budget=None if sizing is None else sizing.budget)
    return plan, background, parallax


def fill_background(photo: Photo, Z: np.ndarray, K: np.ndarray, plan: "CameraPlan",
                    settings: Settings, progress: Optional[ProgressFn] = None, *,
                    fill: bool = True, budget=None):
    """The filled background layer for a torn mesh and a camera plan (None when not wanted).

    Runs :func:`depth_addon.core.background.build_background` when ``settings.mode == "mesh"``,
    tearing is on and ``settings.fill_background``; notices when the move reveals more than the
    band can fill. Called again by the UI when the camera move changes (the band depends on it).

    Args:
        photo: the picture; Z: (H, W) float32 depth > 0; K: (3, 3) intrinsics in pixels.
        plan: :func:`plan_camera` result; settings: tear threshold, band, inpainting method, step.
        fill: False = only the band and the motion budget (no colour fill or mesh; no notice).
        budget: a :class:`depth_addon.core.background.MotionBudget` computed for the same photo,
            depth, preset and settings by an earlier call (it does not depend on the amount);
            None = computed.
    Returns:
        :class:`depth_addon.core.background.BackgroundLayer` or None.
    """
    if not (settings.mode == "mesh" and settings.fill_background
            and settings.tear_threshold is not None):
        return None
    from .background import build_background
    report(progress, "fill background", 0.0)
    keys = plan.keys
    if settings.stereo:  # the layer must cover what either eye of the stereo pair sees
        rig = cp.stereo_rig(plan.scene, float(plan.K_render[0, 0]), int(plan.render_size[0]),
                            convergence=settings.convergence, interaxial=settings.interaxial)
        keys = cp.stereo_eye_keys(keys, rig.interaxial)
    background = build_background(photo.rgb, Z, K, keys, scene=plan.scene,
                                  tear_threshold=settings.tear_threshold,
                                  band_px=settings.band_px, method=settings.inpaint,
                                  step=BACKGROUND_STEP_FACTOR * settings.step,
                                  overscan=settings.overscan, fill=fill, budget=budget)
    for note in background.notes:
        notice(note)
    if fill and background.holes_expected:
        notice(f"the camera move reveals up to {background.needed_px:.0f} px behind edges but the "
               f"filled band is {background.band_px} px: holes will show; lower --amount")
    report(progress, "fill background", 1.0)
    return background


@dataclass
class CameraPlan:
    """Camera keys and render geometry for a depth map (see :func:`plan_camera`)."""

    keys: cp.CameraKeys
    scene: cp.SceneDepth
    render_size: tuple
    K_render: np.ndarray
    zoom: float


def plan_camera(Z: np.ndarray, K: np.ndarray, settings: Settings,
                valid: Optional[np.ndarray] = None) -> CameraPlan:
    """Camera move, render size and render intrinsics (with overscan zoom) for a depth map.

    Args:
        Z: (H, W) float32 depth > 0; K: (3, 3) photo intrinsics in pixels.
        settings: preset, amount, seconds, fps, resolution, overscan.
        valid: optional (H, W) bool mask for the depth statistics.
    Raises:
        InputError: bad preset/amount/frames (see :func:`camera_path.camera_path`).
    """
    H, W = Z.shape
    stats = cp.scene_depth(Z, valid)
    keys = cp.camera_path(settings.preset, settings.n_frames, stats, K, W, amount=settings.amount)
    rsize = render_size_for(W, H, settings.resolution)
    K_render = render_intrinsics(K, (W, H), rsize)
    zoom = cp.overscan_zoom(Z, K, keys) if settings.overscan else 1.0
    K_render[0, 0] *= zoom
    K_render[1, 1] *= zoom
    return CameraPlan(keys, stats, rsize, K_render, zoom)


def prepare_inputs(image: ImageInput, right: Optional[ImageInput], settings: Settings):
    """Load the photo (and right image); split a side-by-side image when ``settings.sbs``.

    Returns:
        (photo, right) where right is None, a path/array, or a Photo.
    Raises:
        InputError: unreadable inputs, bad side-by-side image.
    """
    if right is None and not settings.sbs and isinstance(image, (str, os.PathLike)):
        from .stereo import is_mpo, load_mpo
        if is_mpo(image):  # a stereo camera's MPO file: left and right frames
            return load_mpo(image)
    photo = load_photo(image)
    if settings.sbs:
        from .stereo import split_sbs
        left, right_arr = split_sbs(photo.rgb, settings.sbs)
        photo = Photo(rgb=left, alpha=None, path=photo.path, focal_px=photo.focal_px,
                      original_size=(left.shape[1], left.shape[0]), scale=1.0,
                      bit_depth=photo.bit_depth)
        right = photo_from_array(right_arr)
    return photo, right
