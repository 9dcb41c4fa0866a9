"""Pure-Python core of depth_addon: numpy/OpenCV/torch only, never ``bpy``."""
