"""The sidebar: 3D Viewport › Sidebar › "3D Photo". draw() only reads properties and places buttons;
a greyed-out button gets a hint line saying why (the same text its poll() reports)."""
from __future__ import annotations

import bpy

from . import ids
from .operators import budget_text, why_not


def _button(layout, context, op_id, text, icon="NONE"):
    reason = why_not(op_id, context)
    col = layout.column(align=True)
    col.enabled = not reason
    col.operator(op_id, text=text, icon=icon)
    if reason:
        hint = layout.row()
        hint.active = False
        hint.label(text=reason, icon="INFO")


class _Sub:
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = ids.CATEGORY
    bl_parent_id = ids.PT_MAIN


class DEPTH_PT_main(bpy.types.Panel):
    """Progress bar, Cancel and the last status line of the 3D Photo sidebar"""

    bl_idname = ids.PT_MAIN
    bl_label = "3D Photo"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = ids.CATEGORY

    def draw(self, context):
        props = getattr(context.scene, ids.SCENE_PROP)
        layout = self.layout
        if props.running:
            layout.progress(factor=props.progress, type="BAR", text=props.status or "Working…")
            layout.operator(ids.OT_CANCEL, icon="CANCEL")
        elif props.status:
            layout.label(text=props.status)


class DEPTH_PT_source(_Sub, bpy.types.Panel):
    """Photo, stereo pair (two files, side-by-side or MPO) or photo + depth map"""

    bl_idname = ids.PT_SOURCE
    bl_label = "Source"

    def draw(self, context):
        props = getattr(context.scene, ids.SCENE_PROP)
        layout = self.layout
        layout.prop(props, "source", expand=True)
        col = layout.column()
        col.prop(props, "image_path", text="Photo" if props.source != "STEREO" else "Left")
        col.template_ID(props, "image", open="image.open")
        if props.source == "STEREO":
            col.prop(props, "sbs")
            if props.sbs == "NONE":
                col.prop(props, "right_path")
                col.prop(props, "right_image", text="")
            col.prop(props, "focal_px")
            col.prop(props, "baseline_m")
            col.prop(props, "doffs")
            col.prop(props, "rectify")
            col.prop(props, "swap")
            col.prop(props, "fuse_mono")
        elif props.source == "DEPTH":
            col.prop(props, "depth_path")
            col.prop(props, "depth_kind")
        else:
            col.prop(props, "use_embedded_depth")


class DEPTH_PT_depth(_Sub, bpy.types.Panel):
    """Depth model, device and resolution; Estimate Depth"""

    bl_idname = ids.PT_DEPTH
    bl_label = "Depth"

    def draw(self, context):
        from .core.monocular import available

        props = getattr(context.scene, ids.SCENE_PROP)
        layout = self.layout
        if props.source == "PHOTO":
            missing = available()
            if missing:
                box = layout.box()
                box.label(text="PyTorch / transformers not installed", icon="ERROR")
                box.label(text="Preferences › Add-ons › 3D Photo › Install")
            layout.prop(props, "model")
            if props.model == "CUSTOM":
                layout.prop(props, "custom_model")
            layout.prop(props, "device")
            layout.prop(props, "max_side")
        _button(layout, context, ids.OT_ESTIMATE, "Estimate Depth", "IMAGE_ZDEPTH")
        layout.operator(ids.OT_UNLOAD, icon="TRASH")


class DEPTH_PT_build(_Sub, bpy.types.Panel):
    """Torn mesh, point cloud or displaced plane; tearing and background fill"""

    bl_idname = ids.PT_BUILD
    bl_label = "Build"

    def draw(self, context):
        props = getattr(context.scene, ids.SCENE_PROP)
        layout = self.layout
        layout.prop(props, "mode")
        layout.prop(props, "step")
        if props.mode == "MESH":
            layout.prop(props, "simplify_px")
            row = layout.row(align=True)
            row.prop(props, "use_tear", text="")
            sub = row.row()
            sub.active = props.use_tear
            sub.prop(props, "tear_threshold")
            col = layout.column()
            col.active = props.use_tear
            col.prop(props, "soft_edges")
            col.prop(props, "fill_background")
            sub = col.column()
            sub.active = props.fill_background
            sub.prop(props, "band_px")
            sub.prop(props, "inpaint")
        if props.source != "STEREO" or not props.focal_px:
            layout.prop(props, "fov_deg")
        _button(layout, context, ids.OT_BUILD, "Build 3D Photo", "MESH_GRID")


class DEPTH_PT_camera(_Sub, bpy.types.Panel):
    """Camera move, amount, duration and the motion budget; Animate Camera"""

    bl_idname = ids.PT_CAMERA
    bl_label = "Camera"

    def draw(self, context):
        props = getattr(context.scene, ids.SCENE_PROP)
        layout = self.layout
        layout.prop(props, "preset")
        layout.prop(props, "amount")
        layout.prop(props, "amount_is_budget")
        row = layout.row(align=True)
        row.prop(props, "seconds")
        row.prop(props, "fps")
        layout.prop(props, "overscan")
        row = layout.row(align=True)
        row.prop(props, "dof_fstop")
        sub = row.row()
        sub.active = props.dof_fstop > 0
        sub.prop(props, "focus_depth")
        if props.dof_fstop > 0 and props.engine == "workbench":
            layout.label(text="Workbench renders no depth of field: use EEVEE or Cycles", icon="INFO")
        budget = budget_text(context)
        if budget:
            layout.label(text=budget, icon="INFO")
        _button(layout, context, ids.OT_ANIMATE, "Animate Camera", "CAMERA_DATA")


class DEPTH_PT_output(_Sub, bpy.types.Panel):
    """Render the video; export depth, displacement texture, normal map (each with a .json
    sidecar) and PLY"""

    bl_idname = ids.PT_OUTPUT
    bl_label = "Output"

    def draw(self, context):
        props = getattr(context.scene, ids.SCENE_PROP)
        layout = self.layout
        layout.prop(props, "engine")
        layout.prop(props, "stereo")
        if props.stereo != "NONE":
            row = layout.row(align=True)
            row.prop(props, "interaxial")
            row.prop(props, "convergence", text="")
        layout.prop(context.scene.render, "filepath", text="")
        _button(layout, context, ids.OT_RENDER, "Render Video", "RENDER_ANIMATION")
        _button(layout, context, ids.OT_EXPORT_DEPTH, "Export Depth", "EXPORT")
        _button(layout, context, ids.OT_EXPORT_DISPLACEMENT, "Export Displacement Texture", "EXPORT")
        _button(layout, context, ids.OT_EXPORT_NORMALS, "Export Normal Map", "EXPORT")
        if props.mode == "POINTS":
            _button(layout, context, ids.OT_EXPORT_PLY, "Export PLY", "EXPORT")


CLASSES = (DEPTH_PT_main, DEPTH_PT_source, DEPTH_PT_depth, DEPTH_PT_build, DEPTH_PT_camera,
           DEPTH_PT_output)
