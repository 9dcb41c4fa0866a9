"""Write docs/bad_inputs.md: every bad input of the batch test (tests/blender/test_batch.py), given
to one real batch command, and the line the user sees for it.

Usage: python docs/make_bad_inputs_table.py   (about a minute; uses the tiny test model)
"""
from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WHAT = {
    "zero.jpg": "zero-byte file", "corrupt.jpg": "corrupt JPEG (JPEG header, random bytes)",
    "text.jpg": "text file named .jpg", "truncated.jpg": "truncated JPEG (first third)",
    "header_only.jpg": "JPEG header only (20 bytes)", "truncated_p.png": "truncated PNG (first half)",
    "signature_only.png": "PNG signature only", "random_p.png": "random bytes named .png",
    "html.png": "HTML page named .png", "bad_crc.png": "PNG with a wrong CRC",
    "huge_header.png": "PNG header claiming 30000x20000 px, no data",
    "zip.jpg": "ZIP archive named .jpg", "gzip.tiff": "compressed bytes named .tiff",
    "garbage.heic": "garbage named .heic", "garbage_w.webp": "broken WebP",
    "garbage_b.bmp": "broken BMP", "truncated_t.tif": "truncated TIFF", "drawing.svg": "SVG drawing",
    "doc.pdf": "PDF document", "notes.txt": "unsupported extension (.txt) given by name",
    "one.png": "1x1 picture", "seven.png": "7x7 picture", "thin.png": "300x3 picture",
    "broken_link.jpg": "broken symbolic link (found in a folder)",
    "fifo.jpg": "named pipe (FIFO) named .jpg (found in a folder; never opened)",
    "socket.png": "Unix socket named .png (found in a folder)",
    "x.jpg": "a folder named x.jpg (found in a folder)",
    "same.png": "same.png next to same.jpg (both would write same_3d.mp4)",
    "empty": "empty folder", "only_text": "folder with no pictures (a .txt only)",
    "missing.jpg": "missing file", "missing_folder": "missing folder",
}


#: rows asserted line for line by tests/blender/test_bad_inputs.py (input, what the user sees)
ONE_PHOTO_ROWS = [
    ("a real 30000x20000 PNG (600 MP, 1.8 MB on disk)",
     "`notice: photo is 30000x20000 (600 MP); downscaled to 7745x5163 (40 MP) for depth`; a video; "
     "peak RSS 2.6 GB (the test asserts < 3 GB; it was 8.2 GB before huge pictures were box-reduced "
     "right after decoding)"),
    ("16-bit RGB PNG", "a video, no notice (decoded at 16 bits)"),
    ("RGBA PNG", "a video, no notice (the alpha channel is kept as the photo's transparency)"),
    ("grey PNG", "a video, no notice"),
    ("palette PNG", "a video, no notice"),
    ("CMYK JPEG", "`notice: cmyk.jpg is CMYK; converted to RGB`; a video"),
    ("JPEG with EXIF orientation 6 (stored landscape, taken portrait)",
     "`notice: rot.jpg is stored rotated/mirrored (EXIF orientation 6); turned upright to 300x451`; "
     "a portrait video"),
    ("animated GIF (3 frames)", "`notice: anim.gif is animated (3 frames); using the first frame`; a video"),
    ("stereo pair with left and right exchanged (`--swap auto`, the default)",
     "`notice: left and right look swapped (most disparities were negative); swapped them`; a video"),
    ("two unrelated photos as a pair",
     "`error: cannot rectify the pair: only 9 of 26 point matches agree on one camera motion (need 20); "
     "the photos must show the same still scene`"),
    ("two unrelated photos as a pair, `--rectify never`",
     "`error: the two pictures do not seem to show the same scene: only 0 of 500 points of the left "
     "picture were found along the rows of the right one` (was a silent garbage video)"),
    ("float depth map with negative values (40 % below 0)",
     "`error: depth map neg.npy has negative values (-2..3, 40 % below 0) but relative depth must be "
     "> 0; if larger values are nearer (inverse depth with a shift), pass --depth-kind inverse` "
     "(was a silent, nearly motionless video)"),
    ("depth map with a few negative samples (holes)",
     "`notice: depth map few.npy: 20 of its samples (0.015 %) are NaN/inf/≤0; filled from their "
     "neighbours`; a video"),
    ("all-equal depth map", "`notice: depth map flat.npy is flat (every value is 3): the 3D photo is "
                            "a flat plane, with no parallax`; a video"),
    ("8-bit RGB depth PNG (grey stored as colour)",
     "`notice: depth map rgb.png has 3 channels; using the first`; a video"),
    ("8-bit colour-mapped depth preview (turbo)",
     "`notice: depth map turbo.png has 3 channels; using the first (the colour channels differ: is "
     "this a colour-mapped preview, not a depth map?)`; a video"),
    ("`--model` a real image-classification model (tiny ViT saved with transformers)",
     "`error: …/vit is not a transformers depth model (its config.json model_type 'vit' is not a "
     "depth-estimation architecture)`"),
    ("output folder on a read-only file system (a read-only tmpfs: tests run as root, so chmod 555 "
     "would not stop a write); video, PNG frames, `--export-depth`, a batch",
     "`error: output folder …/ro is not writable (a read-only file system)` before any work "
     "(was a traceback after the render)"),
]


def main() -> None:
    from tests.blender.test_batch import FAST, make_bad_inputs, real_photos
    from tests.tiny_model import make_tiny_depth_anything

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="depth3d-bad-"))
    model = make_tiny_depth_anything(tmp / "tiny")
    good = real_photos(tmp / "good", 1)
    bad = make_bad_inputs(tmp / "bad", good[0].read_bytes())
    cmd = [sys.executable, "-m", "depth_addon", *map(str, bad), "-o", f"{tmp / 'out'}/",
           "--model", str(model), *FAST]
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    rows = []
    for ln in r.stderr.splitlines():
        m = re.match(r"failed\s+\[\d+/\d+\] (\S+): (.*)", ln)
        if m:
            name, reason = m.groups()
            key = os.path.basename(name)
            rows.append((WHAT.get(key, key), ln.replace(str(tmp), "…")))
    lines = [
        "# Bad inputs in a batch: what the user sees",
        "",
        "Generated by `docs/make_bad_inputs_table.py` from one real command over the inputs of",
        "`tests/blender/test_batch.py::test_thirty_two_bad_inputs_do_not_stop_the_batch` (which asserts",
        "one line each, no traceback, exit code 1 and the good photos rendered). Each bad input is one",
        "line on stderr; the batch goes on; the summary repeats the reasons. Paths shortened to `…`.",
        "",
        "| input | line on stderr |",
        "|---|---|",
    ]
    lines += [f"| {w} | `{t.replace('|', '/')}` |" for w, t in rows]
    summary = next(ln for ln in r.stdout.splitlines() if ln.startswith("batch:"))
    lines += ["", f"Summary line: `{summary}`; exit code {r.returncode}.", "",
              "Also answered, one photo at a time (`tests/blender/test_cli.py`, exit code 2): an",
              "existing output (not overwritten), an output folder that does not exist, an unknown",
              "preset, a stereo pair of different sizes, a depth map of another size (resized with a",
              "notice), NaN/inf depth (filled with a notice), an offline model id, a folder that is",
              "not a model. In a batch the same messages appear on the item's line. An existing",
              "output in a batch is *skipped* (exit code 0); an unwritable output folder stops the",
              "batch before any work (exit code 2); Ctrl+C stops it with exit code 130",
              "(`tests/blender/test_batch.py`). A full disk (a 60 kB tmpfs in the test): Blender",
              "reports success with a truncated MP4, so every video is checked after rendering:",
              "`failed  [1/2] in/photo00.jpg: the rendered video is incomplete (not a readable MP4);",
              "removed it (the disk holding …/full is full: 60 kB free)`."]
    lines += ["", "## One photo at a time: formats, pairs, depth maps, models, output", "",
              "Each row is a test in `tests/blender/test_bad_inputs.py` (real bpy; the test asserts the",
              "exact line shown, exit code 0 and a rendered video for a notice, exit code 2 and no",
              "output for an error). In a batch the same line appears on the item's line.", "",
              "| input | what the user sees |", "|---|---|"]
    lines += [f"| {w} | {t} |" for w, t in ONE_PHOTO_ROWS]
    (ROOT / "docs" / "bad_inputs.md").write_text("\n".join(lines) + "\n")
    print(f"{len(rows)} rows, exit code {r.returncode}")


if __name__ == "__main__":
    main()
