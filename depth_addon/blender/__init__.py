"""Thin adapters between the core's arrays and Blender data (the only package that touches bpy.data).

Nothing here imports the UI or the CLI. Differences between Blender 4.2 LTS and 5.x live in
:mod:`.render` (engine ids, video output) and are tested on both.
"""
