"""Batch inputs without Blender: stable order, outputs, shards, patterns (depth_addon.batch)."""
from __future__ import annotations

import pytest

from depth_addon import batch
from depth_addon.core.errors import DepthAddonError


def test_collect_order_outputs_and_shards(tmp_path):
    d = tmp_path / "in"
    (d / "b").mkdir(parents=True)
    (d / ".hidden").mkdir()
    for name in ("z.jpg", "a.PNG", "m.tif", "notes.txt", ".x.jpg", "b/c.jpg", ".hidden/h.jpg"):
        (d / name).write_bytes(b"x")
    items = batch.collect([str(d)], recursive=True, output=str(tmp_path / "out"))
    # a folder's pictures by name, then its sub-folders by name; hidden ones and .txt ignored
    assert [i.name for i in items] == ["in/a.PNG", "in/m.tif", "in/z.jpg", "in/b/c.jpg"]
    assert sorted(i.out for i in items) == sorted(
        str(tmp_path / "out" / p) for p in ("a_3d.mp4", "m_3d.mp4", "z_3d.mp4", "b/c_3d.mp4"))
    again = batch.collect([str(d)], recursive=True, output=str(tmp_path / "out"))
    assert [i.src for i in again] == [i.src for i in items]  # stable
    shards = [batch.shard(items, i, 3) for i in range(3)]
    assert sorted(x.src for s in shards for x in s) == sorted(x.src for x in items)
    flat = [batch.collect([str(d)])]  # not recursive: b/ is skipped, no error
    assert [i.name for i in flat[0]] == ["in/a.PNG", "in/m.tif", "in/z.jpg"]


def test_collect_errors_and_duplicates(tmp_path):
    (tmp_path / "p.jpg").write_bytes(b"x")
    (tmp_path / "p.png").write_bytes(b"x")
    items = batch.collect([str(tmp_path / "p.jpg"), str(tmp_path / "p.jpg"),
                           str(tmp_path / "p.png"), str(tmp_path / "nope.jpg")])
    assert len(items) == 3  # the duplicate is dropped
    assert items[0].error is None and "also" in items[1].error and "no such" in items[2].error
    ok = batch.collect([str(tmp_path / "p.jpg"), str(tmp_path / "p.png")], pattern="{stem}_{ext}.mp4")
    assert [i.error for i in ok] == [None, None] and ok[1].out.endswith("p_png.mp4")
    with pytest.raises(DepthAddonError, match="mp4"):
        batch.collect([str(tmp_path)], pattern="{stem}.mov")
    with pytest.raises(DepthAddonError, match="unknown field"):
        batch.collect([str(tmp_path)], pattern="{size}.mp4")


@pytest.mark.parametrize("text,ok", [("0/1", (0, 1)), ("3/4", (3, 4)), (None, (0, 1)),
                                     ("4/4", None), ("-1/2", None), ("1", None), ("a/b", None)])
def test_parse_shard(text, ok):
    if ok is None:
        with pytest.raises(DepthAddonError):
            batch.parse_shard(text)
    else:
        assert batch.parse_shard(text) == ok
