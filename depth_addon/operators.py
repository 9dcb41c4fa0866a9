"""Operators of the 3D Photo sidebar. Each one gathers inputs on the main thread, calls the same
core functions as the CLI (:mod:`depth_addon.core.pipeline`) and the same Blender adapter
(:mod:`depth_addon.blender.scene`), and reports failures with ``self.report({'ERROR'}, msg)``.

Long work (model load + inference, dependency install) runs in a :class:`~depth_addon.jobs.Job`
thread; a modal timer drains it (progress bar, Esc/Cancel). In background mode the same operators
run synchronously, because timers never fire there.
"""

import os
from typing import Optional

import bpy
import numpy as np
from bpy.props import BoolProperty, EnumProperty, StringProperty
from bpy_extras.io_utils import ExportHelper

from . import ids, jobs, prefs
from .core.errors import DepthAddonError, InputError

#: per-scene state kept between the steps: photo, depth estimate, last pipeline result
STATE: dict = {}


def _key(scene) -> str:
    return scene.name_full


def _state(scene) -> dict:
    return STATE.setdefault(_key(scene), {})


def _props(context):
    return getattr(context.scene, ids.SCENE_PROP)


def _redraw(context) -> None:
    wm = getattr(context, "window_manager", None)
    for win in (wm.windows if wm else []):
        for area in win.screen.areas:
            if area.type in {"VIEW_3D", "PREFERENCES"}:
                area.tag_redraw()


# -- inputs ---------------------------------------------------------------------------------

def _image_input(img: Optional["bpy.types.Image"], path: str, what: str):
    """A file path or an (H, W, 4) float array for a photo chosen in the panel."""
    if img is not None:
        fp = bpy.path.abspath(img.filepath_raw or img.filepath) if (img.filepath_raw or img.filepath) else ""
        if fp and os.path.isfile(fp) and img.packed_file is None:
            return fp
        w, h = img.size
        if w == 0 or h == 0:
            raise InputError(f"image '{img.name}' has no pixels; reload it or pick a file")
        px = np.empty(w * h * img.channels, np.float32)
        img.pixels.foreach_get(px)
        # Blender stores rows bottom-up; byte images hold sRGB values as they are in the file
        return np.ascontiguousarray(px.reshape(h, w, img.channels)[::-1])
    if not path.strip():
        raise InputError(f"choose a {what} file (or an image in this .blend)")
    return bpy.path.abspath(path)


_EMBEDDED_CACHE: dict = {}


def _has_embedded(path: str) -> bool:
    """Does the photo file carry its own depth? (cached by path and mtime: poll() runs often)"""
    try:
        key = (path, os.path.getmtime(path))
    except OSError:
        return False
    if key not in _EMBEDDED_CACHE:
        from .core.embedded import has_embedded_depth
        if len(_EMBEDDED_CACHE) > 64:
            _EMBEDDED_CACHE.clear()
        _EMBEDDED_CACHE[key] = has_embedded_depth(path) is not None
    return _EMBEDDED_CACHE[key]


def why_not(op_id: str, context) -> str:
    """Why an operator cannot run now ('' when it can); shown in the panel and the tooltip."""
    scene = context.scene
    props = getattr(scene, ids.SCENE_PROP, None)
    if props is None:
        return "add-on not registered"
    if props.running and op_id not in (ids.OT_CANCEL,):
        return "wait for the running job or press Cancel"
    st = STATE.get(_key(scene), {})
    if op_id == ids.OT_ESTIMATE:
        if not (props.image or props.image_path.strip()):
            return "choose a photo first"
        is_mpo = props.image_path.strip().lower().endswith(".mpo") and not props.image
        if (props.source == "STEREO" and props.sbs == "NONE" and not is_mpo
                and not (props.right_image or props.right_path.strip())):
            return "choose the right image of the stereo pair (or an .mpo file)"
        if props.source == "DEPTH" and not props.depth_path.strip():
            return "choose a depth map file"
        if props.source == "PHOTO":
            from .core.monocular import available
            msg = available()
            if msg and not (props.use_embedded_depth and not props.image
                            and _has_embedded(bpy.path.abspath(props.image_path.strip()))):
                return "PyTorch/transformers missing: Preferences › Add-ons › 3D Photo › Install"
        return ""
    if op_id in (ids.OT_BUILD, ids.OT_EXPORT_DEPTH, ids.OT_EXPORT_DISPLACEMENT,
                 ids.OT_EXPORT_NORMALS):
        return "" if "depth" in st else "estimate depth first"
    if op_id == ids.OT_ANIMATE:
        return "" if "result" in st and _built(scene) else "build the 3D photo first"
    if op_id == ids.OT_RENDER:
        return "" if _built(scene) and scene.camera is not None else "build the 3D photo first"
    if op_id == ids.OT_EXPORT_PLY:
        r = st.get("result")
        return "" if r is not None and r.points is not None else "build a point cloud first"
    return ""


def budget_text(context) -> str:
    """The motion budget of the last build and what limits it, for the panel ('' when unknown)."""
    r = STATE.get(_key(context.scene), {}).get("result")
    bg = getattr(r, "background", None) if r is not None else None
    if bg is None:
        return ""
    text = bg.budget_text()
    return (f"{text[0].upper()}{text[1:]}; using x{r.parallax_amount:.2g} "
            f"(band {bg.band_px} px, move reveals {bg.needed_px:.0f} px)")


def _built(scene):
    from .blender.scene import find_built
    return find_built(scene)


class _Checked:
    """Mixin: poll() explains itself through why_not()."""

    @classmethod
    def poll(cls, context):
        reason = why_not(cls.bl_idname, context)
        if reason:
            cls.poll_message_set(reason)
        return not reason


class _JobOperator(_Checked):
    """Runs ``make_job`` off the main thread with a modal timer (synchronously in background)."""

    _timer = None
    _job = None

    def make_job(self, context) -> jobs.Job:  # pragma: no cover - abstract
        raise NotImplementedError

    def finish(self, context, result) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _begin(self, context, background: bool):
        props = _props(context)
        try:
            job = self.make_job(context)
            props.running, props.progress, props.status = True, 0.0, job.name
            self._job = jobs.start(job, background=background)
        except DepthAddonError as exc:
            props.running = False
            self.report({"ERROR"}, str(exc))
            return None
        return self._job

    def _end(self, context):
        """Hand the result over on the main thread; returns the operator's result set."""
        props = _props(context)
        job = self._job
        props.running = False
        props.progress = 1.0 if job.state == jobs.DONE else 0.0
        if job.state == jobs.CANCELLED:
            props.status = "Cancelled"
            self.report({"WARNING"}, f"{job.name} cancelled; nothing was changed")
            return {"CANCELLED"}
        if job.state == jobs.ERROR:
            props.status = job.error
            self.report({"ERROR"}, job.error)
            return {"CANCELLED"}
        try:
            self.finish(context, job.result)
        except DepthAddonError as exc:
            props.status = str(exc)
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        return {"FINISHED"}

    def execute(self, context):
        if self._begin(context, background=True) is None:
            return {"CANCELLED"}
        return self._end(context)

    def invoke(self, context, event):
        if bpy.app.background:
            return self.execute(context)
        if self._begin(context, background=False) is None:
            return {"CANCELLED"}
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job = self._job
        props = _props(context)
        if event.type == "ESC" and event.value == "PRESS":
            job.cancel()
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        props.progress, props.status = job.fraction, f"{job.name}: {job.stage}"
        _redraw(context)
        if job.poll() == jobs.RUNNING:
            return {"RUNNING_MODAL"}
        context.window_manager.event_timer_remove(self._timer)
        return self._end(context)


# -- depth ----------------------------------------------------------------------------------

def estimate_job(context) -> jobs.Job:
    """The job behind "Estimate Depth" (inputs read now, on the main thread)."""
    from .core import pipeline
    from .props import to_settings

    props = _props(context)
    settings = to_settings(props, prefs.get(context))
    settings.validate()
    image = _image_input(props.image, props.image_path, "photo")
    right = depth = None
    if props.source == "STEREO" and settings.sbs is None and (props.right_image or props.right_path.strip()):
        right = _image_input(props.right_image, props.right_path, "right image")
    # (no right image: an .mpo photo holds both views; prepare_inputs reads them)
    if props.source == "DEPTH":
        depth = bpy.path.abspath(props.depth_path)

    def work(progress):
        photo, right_in = pipeline.prepare_inputs(image, right, settings)
        result = pipeline.estimate_depth(photo, right=right_in, depth=depth, settings=settings,
                                         progress=progress)
        return photo, result

    return jobs.Job("Estimating depth", work)


def hand_over_estimate(context, result) -> "bpy.types.Image":
    """Main thread: keep the raw depth for the next steps and show it colour-mapped."""
    from .blender.material import image_from_array
    from .core.depth import colormap

    photo, depth = result
    st = _state(context.scene)
    st.clear()
    st["photo"], st["depth"] = photo, depth
    old = bpy.data.images.get(ids.DEPTH_PREVIEW_IMAGE)
    if old is not None:
        bpy.data.images.remove(old)
    rgb = colormap(depth.values, depth.kind).astype(np.float32) / 255.0
    img = image_from_array(ids.DEPTH_PREVIEW_IMAGE, rgb)
    img.name = ids.DEPTH_PREVIEW_IMAGE
    screen = getattr(context, "screen", None)
    for area in (screen.areas if screen else []):
        if area.type == "IMAGE_EDITOR":
            area.spaces.active.image = img
            break
    props = _props(context)
    h, w = depth.values.shape
    props.status = f"Depth {w}x{h} ({depth.kind}, {depth.source or 'file'})"
    for note in depth.notes:
        print(f"depth3d: {note}")
    return img


class DEPTH_OT_estimate(_JobOperator, bpy.types.Operator):
    """Estimate depth for the chosen photo, stereo pair or depth map (runs in the background)"""

    bl_idname = ids.OT_ESTIMATE
    bl_label = "Estimate Depth"
    bl_options = {"REGISTER", "UNDO"}

    def make_job(self, context):
        return estimate_job(context)

    def finish(self, context, result):
        hand_over_estimate(context, result)
        self.report({"INFO"}, _props(context).status)


class DEPTH_OT_cancel(bpy.types.Operator):
    """Stop the running job; the scene stays as it was"""

    bl_idname = ids.OT_CANCEL
    bl_label = "Cancel"

    def execute(self, context):
        if not jobs.cancel_current():
            self.report({"INFO"}, "nothing is running")
        return {"FINISHED"}


class DEPTH_OT_unload_model(bpy.types.Operator):
    """Free the memory of the cached depth model(s)"""

    bl_idname = ids.OT_UNLOAD
    bl_label = "Unload Model"

    def execute(self, context):
        from .core.monocular import available, unload_models
        n = 0 if available() else unload_models()
        self.report({"INFO"}, f"unloaded {n} model(s)")
        return {"FINISHED"}


# -- build / animate / render -------------------------------------------------------------------

def _settings(context):
    from .props import to_settings
    s = to_settings(_props(context), prefs.get(context))
    s.sbs = None  # the pair was split when the depth was estimated
    s.validate()
    return s


def build_job(context) -> jobs.Job:
    """The job behind "Build 3D Photo": the pipeline's geometry, camera plan and background layer
    (pure arrays, off the main thread); :meth:`DEPTH_OT_build.finish` puts them in the scene."""
    from .core import pipeline

    st = _state(context.scene)
    photo, depth, settings = st["photo"], st["depth"], _settings(context)

    def work(progress):
        return pipeline.run(photo, depth_result=depth, settings=settings, progress=progress)

    return jobs.Job("Building 3D photo", work)


class DEPTH_OT_build(_JobOperator, bpy.types.Operator):
    """Build the 3D photo (torn mesh, point cloud or displaced plane) from the estimated depth; replaces an earlier build, not your other objects"""

    bl_idname = ids.OT_BUILD
    bl_label = "Build 3D Photo"
    bl_options = {"REGISTER", "UNDO"}

    def make_job(self, context):
        return build_job(context)

    def finish(self, context, result):
        self.report({"INFO"}, hand_over_build(context, result))


def hand_over_build(context, result) -> str:
    """Main thread: put a :func:`build_job` result into the scene; returns the status line.

    Raises:
        ValueError: only for a malformed result (mesh arrays of the wrong shape), a bug.
    """
    from .blender import scene as bscene

    bscene.build(result, scene=context.scene, animate=False)
    _state(context.scene)["result"] = result
    n = len(result.mesh.positions) if result.mesh is not None else len(result.points[0])
    _props(context).status = f"Built {result.settings.mode} with {n:,} vertices"
    return _props(context).status


def animate_job(context) -> jobs.Job:
    """The job behind "Animate Camera": the camera plan and, for a torn mesh, the background band
    it needs (off the main thread); the built geometry stays as it is."""
    from .core import pipeline

    result = _state(context.scene)["result"]
    s = _settings(context)
    built_s = result.settings
    s.mode, s.tear_threshold, s.step = built_s.mode, built_s.tear_threshold, built_s.step

    def work(progress):
        plan, background, parallax = pipeline.plan_motion(result.photo, result.Z, result.K, s,
                                                          result.depth.valid, progress)
        return s, plan, background, parallax

    return jobs.Job("Planning the camera move", work)


class DEPTH_OT_animate_camera(_JobOperator, bpy.types.Operator):
    """Key the camera move, set the frame range and make it the active camera"""

    bl_idname = ids.OT_ANIMATE
    bl_label = "Animate Camera"
    bl_options = {"REGISTER", "UNDO"}

    def make_job(self, context):
        return animate_job(context)

    def finish(self, context, out):
        warning = simplified_for_another_move(context, out)
        self.report({"INFO"}, hand_over_animate(context, out))
        if warning:
            self.report({"WARNING"}, warning)


def simplified_for_another_move(context, out):
    """The warning for "Animate Camera" when the built mesh was simplified for a different move
    (its merged faces keep the error bound only for the move they were built for), else None.
    Call before :func:`hand_over_animate` replaces the result's camera."""
    import numpy as np

    result = _state(context.scene).get("result")
    mesh = None if result is None else result.mesh
    if mesh is None or not mesh.n_merged_cells:
        return None
    plan = out[1]
    same = (np.array_equal(result.camera.positions, plan.keys.positions)
            and np.array_equal(result.camera.focal_px, plan.keys.focal_px)
            and np.array_equal(result.K_render, plan.K_render))
    if same:
        return None
    return (f"The mesh was simplified for the previous camera move: if the new move is larger, "
            f"build the 3D photo again (or set Simplify to 0) to keep it within "
            f"{result.settings.simplify_px:g} px")


def hand_over_animate(context, out) -> str:
    """Main thread: key the camera move an :func:`animate_job` planned; returns the status line.

    Raises:
        DepthAddonError: the 3D photo was deleted while the move was planned.
    """
    from .blender import scene as bscene

    s, plan, background, parallax = out
    result = _state(context.scene)["result"]
    built = _built(context.scene)
    if built is None:
        raise DepthAddonError("the 3D photo was removed; build it again")
    result.settings = s
    result.camera, result.scene, result.zoom = plan.keys, plan.scene, plan.zoom
    result.render_size, result.K_render = plan.render_size, plan.K_render
    result.parallax_amount = parallax
    if s.mode == "mesh":
        # the band the background must cover depends on the move
        result.background = background
        bscene.replace_background(built, result)
    bscene.animate_camera(built, result, scene=context.scene)
    _props(context).status = f"{s.preset}: {len(plan.keys.positions)} frames"
    return _props(context).status


class DEPTH_OT_render_video(_Checked, bpy.types.Operator):
    """Render the animation with the scene's render settings and output path (MP4 by default)"""

    bl_idname = ids.OT_RENDER
    bl_label = "Render Video"

    def execute(self, context):
        from .blender import render as brender

        scene = context.scene
        try:
            _apply_camera_options(context)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        if not scene.get("depth3d_output_set"):  # sensible defaults, once per scene
            if scene.render.filepath in ("", "/tmp/", "/tmp\\", "//"):
                scene.render.filepath = "//3d_photo.mp4"
            brender.set_output(scene, scene.render.filepath, "mp4")
            scene["depth3d_output_set"] = True
        path = bpy.path.abspath(scene.render.filepath)
        is_video = scene.render.image_settings.file_format == "FFMPEG"
        if not os.path.isdir(os.path.dirname(path) or "."):
            self.report({"ERROR"}, f"output folder {os.path.dirname(path)} does not exist; "
                                   "set the output path in Output Properties")
            return {"CANCELLED"}
        if bpy.app.background:
            from .blender.render_worker import view_suffixes
            from .core.files import view_paths

            out = path if path.lower().endswith(".mp4") or not is_video else path + ".mp4"
            taken = [p for p in view_paths(out, view_suffixes(scene)) if os.path.exists(p)]
            if is_video and taken:
                self.report({"ERROR"}, f"{taken[0]} exists; change the output path or delete it")
                return {"CANCELLED"}
            try:
                if not is_video:
                    os.makedirs(out, exist_ok=True)
                files = brender.render_animation(scene, out, "mp4" if is_video else "png")
            except DepthAddonError as exc:
                self.report({"ERROR"}, str(exc))
                return {"CANCELLED"}
            self.report({"INFO"}, f"wrote {files[0]}" + (f" … ({len(files)} files)" if len(files) > 1 else ""))
            return {"FINISHED"}
        target = scene.render.frame_path(frame=scene.frame_start)
        if is_video and os.path.exists(target):
            self.report({"ERROR"}, f"{target} exists; change the output path or delete it")
            return {"CANCELLED"}
        # Blender's own render job: progress bar in the status bar, Esc cancels, UI stays live
        bpy.ops.render.render("INVOKE_DEFAULT", animation=True)
        return {"FINISHED"}


def _apply_camera_options(context) -> None:
    """Depth of field and stereo views from the panel's current values, on the built 3D photo
    (nothing to do before a build). Raises DepthAddonError for invalid values."""
    from .blender import scene as bscene

    result = _state(context.scene).get("result")
    built = _built(context.scene)
    if result is None or built is None:
        return
    s = _settings(context)
    s.validate()
    for key in ("stereo", "interaxial", "convergence", "dof_fstop", "focus_depth"):
        setattr(result.settings, key, getattr(s, key))
    bscene.apply_camera_options(built, result, scene=context.scene)


# -- exports ----------------------------------------------------------------------------------

class _Export(_Checked, ExportHelper):
    check_existing = True
    overwrite: BoolProperty(name="Overwrite", default=False,
                            description="Replace the file and its .json sidecar if they exist")

    def _write(self, context, path):  # pragma: no cover - abstract
        raise NotImplementedError

    def execute(self, context):
        path = bpy.path.abspath(self.filepath)
        if os.path.splitext(path)[1].lower() not in self.exts:
            path += self.filename_ext
        try:
            written = self._write(context, path) or (path,)
        except DepthAddonError as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        self.report({"INFO"}, f"wrote {', '.join(written)}")
        return {"FINISHED"}


def _texture_inputs(context):
    """(Z, metric, K, depth result) of the last estimate/build, for the texture exports."""
    from .core import pipeline
    from .core.depth import to_depth

    st = _state(context.scene)
    depth, result = st["depth"], st.get("result")
    if result is not None and result.depth is depth:
        return result.Z, result.metric, result.K, depth
    settings = _settings(context)
    Z, metric = to_depth(depth, depth_range=settings.depth_range)
    photo = st.get("photo")
    if photo is None or photo.rgb.shape[:2] != Z.shape:
        from .core.images import photo_from_array
        photo = photo_from_array(np.zeros(Z.shape + (3,), np.float32))
    return Z, metric, pipeline.choose_intrinsics(photo, depth, settings), depth


class DEPTH_OT_export_depth(_Export, bpy.types.Operator):
    """Save the depth map + a .json sidecar (kind, units, near/far, encoding, K): .exr / .npy = depth values (float32, metres when metric), .png = 16-bit inverse depth (white = near)"""

    bl_idname = ids.OT_EXPORT_DEPTH
    bl_label = "Export Depth"
    filename_ext = ".exr"
    exts = (".png", ".exr", ".npy")
    filter_glob: StringProperty(default="*.png;*.exr;*.npy", options={"HIDDEN"})

    def _write(self, context, path):
        from .core.textures import export_depth
        Z, metric, K, depth = _texture_inputs(context)
        return export_depth(path, Z, K, metric=metric, depth=depth, overwrite=self.overwrite,
                            depth_range=_settings(context).depth_range)


class DEPTH_OT_export_displacement(_Export, bpy.types.Operator):
    """Save a displacement texture + a .json sidecar: inverse depth normalised to 0..1 (white = near), 16-bit PNG or EXR"""

    bl_idname = ids.OT_EXPORT_DISPLACEMENT
    bl_label = "Export Displacement Texture"
    filename_ext = ".png"
    exts = (".png", ".exr")
    filter_glob: StringProperty(default="*.png;*.exr", options={"HIDDEN"})

    def _write(self, context, path):
        from .core.textures import export_displacement
        Z, metric, K, depth = _texture_inputs(context)
        return export_displacement(path, Z, K, metric=metric, depth=depth, overwrite=self.overwrite,
                                   depth_range=_settings(context).depth_range)


class DEPTH_OT_export_normals(_Export, bpy.types.Operator):
    """Save a camera-space normal map (16-bit PNG, OpenGL: +Y up, +Z towards the camera, RGB = 0.5 + 0.5 n) + a .json sidecar"""

    bl_idname = ids.OT_EXPORT_NORMALS
    bl_label = "Export Normal Map"
    filename_ext = ".png"
    exts = (".png",)
    filter_glob: StringProperty(default="*.png", options={"HIDDEN"})

    def _write(self, context, path):
        from .core.textures import export_normals
        Z, metric, K, depth = _texture_inputs(context)
        return export_normals(path, Z, K, metric=metric, depth=depth, overwrite=self.overwrite)


class DEPTH_OT_export_ply(_Export, bpy.types.Operator):
    """Save the point cloud as a binary PLY file"""

    bl_idname = ids.OT_EXPORT_PLY
    bl_label = "Export PLY"
    filename_ext = ".ply"
    exts = (".ply",)
    filter_glob: StringProperty(default="*.ply", options={"HIDDEN"})

    def _write(self, context, path):
        from .core.geometry import cv_to_blender, write_ply
        pos, col = _state(context.scene)["result"].points
        write_ply(path, cv_to_blender(pos), col)


# -- dependencies -------------------------------------------------------------------------------

class DEPTH_OT_install_dependencies(_JobOperator, bpy.types.Operator):
    """Install pinned packages with pip into this extension's own user folder (needs online access)"""

    bl_idname = ids.OT_INSTALL
    bl_label = "Install Dependencies"
    what: EnumProperty(items=[("BASE", "OpenCV + Pillow", ""), ("ML", "PyTorch + transformers", ""),
                              ("ALL", "All", "")], default="ALL")

    @classmethod
    def poll(cls, context):
        return not (jobs.CURRENT is not None and jobs.CURRENT.poll() == jobs.RUNNING)

    def make_job(self, context):
        prefs.check_online()
        cmd = prefs.install_command(prefs.site_packages(create=True), self.what)
        return jobs.Job("Installing " + {"BASE": "OpenCV + Pillow", "ML": "PyTorch + transformers",
                                          "ALL": "dependencies"}[self.what],
                        lambda progress: prefs.run_install(cmd, progress))

    def finish(self, context, result):
        self.report({"INFO"}, f"installed into {result}; restart Blender if imports still fail")


CLASSES = (DEPTH_OT_estimate, DEPTH_OT_cancel, DEPTH_OT_unload_model, DEPTH_OT_build,
           DEPTH_OT_animate_camera, DEPTH_OT_render_video, DEPTH_OT_export_depth,
           DEPTH_OT_export_displacement, DEPTH_OT_export_normals, DEPTH_OT_export_ply,
           DEPTH_OT_install_dependencies)
