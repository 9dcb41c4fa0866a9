"""Helper process of a parallel render: render frames of a saved scene to PNG, IRIS or BMP files.

Started by :func:`depth_addon.blender.render._render_parallel` as

    python render_worker.py SCENE.blend SCENE_NAME ORDER OUT_DIR [PNG_COMPRESSION [FORMAT]]

with the Python that runs the bpy module (``sys.executable``), or started early as

    python render_worker.py --wait

which imports bpy and makes its GPU contexts at once (:func:`warm_up_gpu`), then reads those
arguments as one JSON list from a line of stdin (EOF: exit 0 without rendering), so its start-up
runs while the parent is still computing the scene (:func:`depth_addon.blender.render.
start_helpers`). It imports nothing but bpy and the standard library (so it
works wherever the add-on package is installed, under any package name), opens the .blend and
renders scene SCENE_NAME, with that scene's own settings, frame by frame in ORDER (ranges such
as ``76-150,75-1``; a range may run downwards) to ``OUT_DIR/frame_0001.png`` … (PNG compression 0
by default), or ``frame_0001.rgb`` … with FORMAT ``IRIS`` (SGI: the cheapest picture Blender
writes and reads back, for frames the parent only encodes; ``BMP`` works too). Every process of
a render (the parent too) first *claims* a frame by creating ``OUT_DIR/frame_0001.claim``
exclusively and skips frames someone else claimed, so the processes share the frames out among
themselves whatever their speed (the parent starts at once, helpers start ~1 s later; another
program may slow one of them down), and writes ``OUT_DIR/frame_0001.done`` when the frame's
pictures are complete (a video's encode reads each frame as soon as it is done).
Exits 0 when every frame in ORDER is rendered or claimed by another process. On any failure it
prints one line ``depth3d-worker-error: …`` to stderr and exits 3, which the parent turns into a
DepthAddonError.
"""
from __future__ import annotations

import json
import os
import sys

ERROR_TAG = "depth3d-worker-error:"


def parse_order(text: str) -> list:
    """'1-3,9-7,5' -> [1, 2, 3, 9, 8, 7, 5]."""
    frames = []
    for part in text.split(","):
        if not part:
            continue
        a, _, b = part.partition("-")
        a, b = int(a), int(b or a)
        frames.extend(range(a, b + 1) if a <= b else range(a, b - 1, -1))
    return frames


def format_order(frames) -> str:
    """Inverse of :func:`parse_order` (runs of consecutive frames, up or down, as ranges)."""
    frames = list(frames)
    parts, i = [], 0
    while i < len(frames):
        j = i
        step = frames[i + 1] - frames[i] if i + 1 < len(frames) else 1
        if step not in (1, -1):
            step = 1
        while j + 1 < len(frames) and frames[j + 1] - frames[j] == step:
            j += 1
        parts.append(str(frames[i]) if i == j else f"{frames[i]}-{frames[j]}")
        i = j + 1
    return ",".join(parts)


#: file extension of each frame format a helper writes
FRAME_EXT = {"PNG": ".png", "IRIS": ".rgb", "BMP": ".bmp"}


def frame_path(out_dir: str, frame: int, ext: str = ".png") -> str:
    return os.path.join(out_dir, f"frame_{frame:04d}{ext}")


#: marker written after a frame's pictures (every view) are written: ``frame_0001.done``
DONE_EXT = ".done"


def claim(out_dir: str, frame: int) -> bool:
    """Claim ``frame`` for this process (atomic: O_CREAT | O_EXCL); False if already claimed."""
    try:
        fd = os.open(frame_path(out_dir, frame, ".claim"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.close(fd)
    return True


def render_frames(scene, frames, out_dir: str, on_frame=None, ext: str = ".png") -> int:
    """Render the unclaimed ones of ``frames`` of ``scene`` (whose output is set by
    :func:`setup_png`; ``ext`` the matching extension) as stills to :func:`frame_path`;
    ``on_frame()`` is called before each (it may raise to stop). Returns frames rendered."""
    import bpy

    scene.render.use_file_extension = False
    done = 0
    for f in frames:
        if on_frame is not None:
            on_frame()
        if not claim(out_dir, f):
            continue
        scene.frame_set(f)
        scene.render.filepath = frame_path(out_dir, f, ext)
        bpy.ops.render.render(write_still=True, scene=scene.name)
        # the frame's pictures are complete: a video's encode may read them now
        open(frame_path(out_dir, f, DONE_EXT), "wb").close()
        done += 1
    return done


#: how stereo views are written (kept across the switch to PNG, which may reset them)
_STEREO_KEYS = ("display_mode", "anaglyph_type", "interlace_type", "use_squeezed_frame",
                "use_sidebyside_crosseyed")


def setup_png(scene, compression: int, file_format: str = "PNG") -> None:
    """Output 8-bit RGB stills: PNG with ``compression`` (0-100), or ``file_format`` 'IRIS' (SGI,
    what a video's frames are written as) or 'BMP'; the stereo views settings are kept."""
    isf = scene.render.image_settings
    views = isf.views_format
    s3d = {k: getattr(isf.stereo_3d_format, k) for k in _STEREO_KEYS}
    if hasattr(isf, "media_type"):  # 5.0+
        isf.media_type = "IMAGE"
    isf.file_format = file_format
    isf.color_mode = "RGB"
    if file_format == "PNG":
        isf.color_depth = "8"
        isf.compression = int(compression)  # 1280x720: 44 ms per frame at 0, 100 ms at 15
    isf.views_format = views
    for k, v in s3d.items():
        setattr(isf.stereo_3d_format, k, v)


def view_suffixes(scene) -> list:
    """File-name suffixes of the pictures one frame writes: the views' suffixes ("_L", "_R")
    for a stereo scene whose views go to separate files (``views_format = 'INDIVIDUAL'``), else
    [""] (one picture: mono, or the views combined side by side, top-bottom or as an anaglyph)."""
    r = scene.render
    if r.use_multiview and r.image_settings.views_format == "INDIVIDUAL":
        return [v.file_suffix for v in r.views if v.use]
    return [""]


def warm_up_gpu() -> None:
    """Create this process's GPU contexts and compile the shaders a 3D photo's frames use: a
    16x9 Workbench render (flat light, texture colour, AA off, 'Standard' view, the Z pass into a
    compositor Soften on 5.x) of a quad textured with a 7x5 sRGB picture, written as an SGI IRIS
    file, all removed afterwards (~0.1-0.15 s). llvmpipe compiles a shader variant per texture
    kind (a size that is not a power of two, as a photo's, is its own), so the first real frame
    no longer compiles them: measured 2026-12-04, one process opening the 640x360 benchmark
    scene, first frame 0.17-0.27 s after a 4x4 render of an empty scene (the warm-up before),
    0.16-0.21 s after this one with a 4x4 texture, 0.11-0.12 s with this 7x5 one (later frames
    0.06 s). Raises RuntimeError if Blender cannot render."""
    import tempfile

    import bpy

    made = []
    sc = bpy.data.scenes.new(".depth3d gpu init")
    fd, picture = tempfile.mkstemp(suffix=".rgb")
    os.close(fd)
    try:
        cam = bpy.data.cameras.new(".depth3d gpu init")
        made.append((bpy.data.cameras, cam))
        ob = bpy.data.objects.new(".depth3d gpu init", cam)
        made.insert(0, (bpy.data.objects, ob))
        sc.collection.objects.link(ob)
        sc.camera = ob
        me = bpy.data.meshes.new(".depth3d gpu init")
        made.append((bpy.data.meshes, me))
        me.from_pydata([(-1, -1, -3), (1, -1, -3), (1, 1, -3), (-1, 1, -3)], [], [(0, 1, 2, 3)])
        me.uv_layers.new(name="UVMap")
        img = bpy.data.images.new(".depth3d gpu init", 7, 5)
        made.append((bpy.data.images, img))
        mat = bpy.data.materials.new(".depth3d gpu init")
        made.append((bpy.data.materials, mat))
        if bpy.app.version < (5, 0, 0):
            mat.use_nodes = True
        node = mat.node_tree.nodes.new("ShaderNodeTexImage")
        node.image = img
        mat.node_tree.nodes.active = node
        me.materials.append(mat)
        quad = bpy.data.objects.new(".depth3d gpu init quad", me)
        made.insert(0, (bpy.data.objects, quad))
        sc.collection.objects.link(quad)
        r = sc.render
        r.engine = "BLENDER_WORKBENCH"
        r.resolution_x, r.resolution_y, r.resolution_percentage = 16, 9, 100
        sc.display.shading.light = "FLAT"
        sc.display.shading.color_type = "TEXTURE"
        sc.display.render_aa = "OFF"
        sc.view_settings.view_transform = "Standard"
        if hasattr(sc, "compositing_node_group"):  # 5.x: the soften's compositor group
            sc.view_layers[0].use_pass_z = True
            group = bpy.data.node_groups.new(".depth3d gpu init", "CompositorNodeTree")
            made.append((bpy.data.node_groups, group))
            group.interface.new_socket("Image", in_out="OUTPUT", socket_type="NodeSocketColor")
            layers = group.nodes.new("CompositorNodeRLayers")
            layers.scene = sc
            soften = group.nodes.new("CompositorNodeFilter")
            soften.inputs["Type"].default_value = "Soften"
            out = group.nodes.new("NodeGroupOutput")
            group.links.new(layers.outputs["Depth"], soften.inputs["Factor"])
            group.links.new(layers.outputs["Image"], soften.inputs["Image"])
            group.links.new(soften.outputs["Image"], out.inputs[0])
            sc.compositing_node_group = group
            r.use_compositing = True
        setup_png(sc, 0, "IRIS")
        r.use_file_extension = False
        r.filepath = picture
        bpy.ops.render.render(write_still=True, scene=sc.name)
    finally:
        bpy.data.scenes.remove(sc)
        for collection, block in made:
            collection.remove(block)
        try:
            os.remove(picture)
        except OSError:
            pass


def read_job(stream) -> "list | None":
    """The arguments of a ``--wait`` helper's job: one line of ``stream`` holding a JSON list of
    strings; None at EOF (the parent needs no helper after all, or is gone).

    Raises:
        RuntimeError: the line is not a JSON list of strings.
    """
    line = stream.readline()
    if not line.strip():
        return None
    try:
        job = json.loads(line)
    except ValueError as exc:
        raise RuntimeError(f"bad job line from the parent: {exc}") from None
    if not (isinstance(job, list) and all(isinstance(a, str) for a in job)):
        raise RuntimeError("bad job line from the parent: not a list of strings")
    return job


def _tell_ready() -> None:
    """Tell the parent this helper is ready (a byte on the pipe ``DEPTH3D_READY_FD`` names;
    see :func:`depth_addon.blender.helpers.start_helpers`), if it gave one."""
    fd = os.environ.pop("DEPTH3D_READY_FD", "")
    if fd.isdigit():
        try:
            os.write(int(fd), b"1")
            os.close(int(fd))
        except OSError:  # the parent stopped listening
            pass


def main(argv) -> int:
    try:
        if argv[:1] == ["--wait"]:
            import bpy  # noqa: F401 -- the slow part of a start, done while the parent works

            try:
                warm_up_gpu()
            except RuntimeError:
                pass  # the real render reports its own error
            _tell_ready()
            argv = read_job(sys.stdin)
            if argv is None:
                return 0
        blend, scene_name, order, out_dir = argv[:4]
        compression = int(argv[4]) if len(argv) > 4 else 0
        file_format = argv[5] if len(argv) > 5 else "PNG"
        if file_format not in FRAME_EXT:
            raise RuntimeError(f"unknown frame format {file_format!r}")
        import bpy

        bpy.ops.wm.open_mainfile(filepath=blend, load_ui=False)
        scene = bpy.data.scenes.get(scene_name)
        if scene is None:
            raise RuntimeError(f"no scene {scene_name!r} in {blend}")
        win = getattr(bpy.context, "window", None)
        if win is not None:
            win.scene = scene
        setup_png(scene, compression, file_format)
        render_frames(scene, parse_order(order), out_dir, ext=FRAME_EXT[file_format])
    except BaseException as exc:  # noqa: BLE001 -- reported to the parent as one line
        msg = str(exc).replace("Error: ", "").strip().splitlines()
        print(f"{ERROR_TAG} {type(exc).__name__}: {msg[0] if msg else ''}", file=sys.stderr,
              flush=True)
        return 3
    return 0


def remove_session_tempdir() -> None:
    """Remove this process's Blender session temp folder (``bpy.app.tempdir``: a
    ``blender_XXXXXX`` folder Blender makes in the temp directory at start-up and removes at its
    exit), which ``os._exit`` would leave behind; nothing if bpy was not imported."""
    import shutil

    bpy = sys.modules.get("bpy")
    path = getattr(getattr(bpy, "app", None), "tempdir", "") if bpy is not None else ""
    if path and os.path.basename(os.path.normpath(path)).startswith("blender_"):
        shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    # We add no bpy handlers (bpy 4.2 segfaults at exit with handlers left). os._exit skips bpy's
    # atexit teardown, which costs time and can only add noise to the parent's log; of what it
    # does, only the removal of the session temp folder matters (one per helper was left in the
    # temp directory before 2026-12-04).
    code = main(sys.argv[1:])
    sys.stdout.flush()
    sys.stderr.flush()
    remove_session_tempdir()
    os._exit(code)
