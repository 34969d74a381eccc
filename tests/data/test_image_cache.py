"""The image cache: each file decoded once to a 3-channel uint8 memory map, changes picked up,
unreadable files skipped with one warning."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from helpers import SMALL_SIZE, load, make_chest_xray, pixels, run_cli, write_image
from PIL import Image

# --- the image cache ------------------------------------------------------------------------


def test_images_are_decoded_to_three_channel_uint8_memory_maps(tmp_path):
    root = tmp_path / "data"
    make_chest_xray(root, n_normal=3, n_pneumonia=3)
    write_image(root / "train" / "NORMAL" / "IM-0050-0001.png", mode="L", fill=77)
    write_image(root / "train" / "PNEUMONIA" / "person50_virus_1.png", mode="RGB", fill=(10, 200, 30))
    write_image(root / "train" / "NORMAL" / "IM-0051-0001.jpeg", mode="L")  # grey JPEG noise
    write_image(root / "train" / "PNEUMONIA" / "person51_bacteria_1.jpeg", mode="RGB")  # colour JPEG noise

    dataset = load(root, tmp_path / "cache", image_size=48)
    assert isinstance(dataset.images, np.memmap)
    assert dataset.images.dtype == np.uint8
    assert dataset.images.shape == (len(dataset.records), 48, 48, 3)

    grey_png = pixels(dataset, "train/NORMAL/IM-0050-0001.png")
    assert (grey_png == 77).all()
    colour_png = pixels(dataset, "train/PNEUMONIA/person50_virus_1.png")
    assert (colour_png == np.array([10, 200, 30], dtype=np.uint8)).all()
    grey_jpeg = pixels(dataset, "train/NORMAL/IM-0051-0001.jpeg")
    assert (grey_jpeg[..., 0] == grey_jpeg[..., 1]).all() and (grey_jpeg[..., 0] == grey_jpeg[..., 2]).all()
    assert grey_jpeg.std() > 0
    colour_jpeg = pixels(dataset, "train/PNEUMONIA/person51_bacteria_1.jpeg")
    assert (colour_jpeg[..., 0] != colour_jpeg[..., 1]).any()

    # every greyscale ("L") file, JPEG or PNG, has three equal channels; RGB noise does not
    for relpath in dataset.records["relpath"]:
        with Image.open(root / relpath) as source:
            mode = source.mode
        image = pixels(dataset, relpath)
        grey = (image[..., 0] == image[..., 1]).all() and (image[..., 1] == image[..., 2]).all()
        assert grey == (mode == "L"), (relpath, mode)


def test_second_load_decodes_nothing(generated, tmp_path):
    first = load(generated.root, tmp_path / "cache")
    assert first.cache.decoded == len(generated.all_paths())
    second = load(generated.root, tmp_path / "cache")
    assert second.cache.decoded == 0
    assert np.array_equal(np.asarray(first.images), np.asarray(second.images))
    assert list(first.records["relpath"]) == list(second.records["relpath"])


def test_changed_added_and_removed_files_are_picked_up(generated, tmp_path):
    cache = tmp_path / "cache"
    first = load(generated.root, cache)
    before = {relpath: pixels(first, relpath) for relpath in first.records["relpath"]}
    normal = generated.root / "train" / "NORMAL"

    # changed: other content and size, later mtime
    changed = sorted(normal.glob("IM-*.jpeg"))[0]
    changed_rel = f"train/NORMAL/{changed.name}"
    old_stat = changed.stat()
    new_fill = 200
    write_image(changed, mode="L", size=60, fill=new_fill)
    os.utime(changed, ns=(old_stat.st_atime_ns, old_stat.st_mtime_ns + 5_000_000_000))
    after_change = load(generated.root, cache)
    assert after_change.cache.decoded == 1
    assert abs(int(pixels(after_change, changed_rel).mean()) - new_fill) <= 2
    for relpath, image in before.items():
        if relpath != changed_rel:
            assert np.array_equal(pixels(after_change, relpath), image), relpath

    # added
    added = write_image(normal / "IM-0099-0001.png", mode="L", fill=33)
    after_add = load(generated.root, cache)
    assert after_add.cache.decoded == 1
    assert (pixels(after_add, "train/NORMAL/IM-0099-0001.png") == 33).all()

    # removed
    removed = sorted((generated.root / "train" / "PNEUMONIA").iterdir())[0]
    removed_rel = f"train/PNEUMONIA/{removed.name}"
    removed.unlink()
    after_remove = load(generated.root, cache)
    assert after_remove.cache.decoded == 0
    assert removed_rel not in set(after_remove.records["relpath"])
    assert removed_rel not in after_remove.cache.entries
    assert len(after_remove.records) == len(after_add.records) - 1
    for relpath, image in before.items():
        if relpath not in (changed_rel, removed_rel):
            assert np.array_equal(pixels(after_remove, relpath), image), relpath

    assert load(generated.root, cache).cache.decoded == 0
    assert added.exists()


def test_another_image_size_decodes_again_and_keeps_the_first(generated, tmp_path):
    cache = tmp_path / "cache"
    count = len(generated.all_paths())
    assert load(generated.root, cache, image_size=32).cache.decoded == count
    other = load(generated.root, cache, image_size=40)
    assert other.cache.decoded == count
    assert other.images.shape[1:] == (40, 40, 3)
    assert load(generated.root, cache, image_size=32).cache.decoded == 0
    assert load(generated.root, cache, image_size=40).cache.decoded == 0


def _add_unreadable_files(root: Path) -> list[str]:
    truncated = write_image(root / "train" / "NORMAL" / "IM-0070-0001.jpeg", mode="L", size=200)
    content = truncated.read_bytes()
    truncated.write_bytes(content[: len(content) // 2])  # cut a JPEG in half
    (root / "train" / "PNEUMONIA" / "person70_virus_1.jpeg").write_bytes(b"")  # zero bytes
    (root / "train" / "PNEUMONIA" / "person71_virus_2.jpeg").write_text("a text file renamed .jpeg\n")
    (root / "test" / "NORMAL" / "IM-0070-0001.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    return sorted(["train/NORMAL/IM-0070-0001.jpeg", "train/PNEUMONIA/person70_virus_1.jpeg",
                   "train/PNEUMONIA/person71_virus_2.jpeg", "test/NORMAL/IM-0070-0001.png"])


def test_unreadable_files_are_skipped_with_one_warning(generated, tmp_path, capsys):
    unreadable = _add_unreadable_files(generated.root)
    code, out, err = run_cli(capsys, "data", "--data", generated.root, "--cache-dir", tmp_path / "cache",
                             "--image-size", SMALL_SIZE, "--format", "json")
    assert code == 0, err
    summary = json.loads(out)
    skipped = [item["relpath"] for item in summary["skipped_files"]]
    assert sorted(skipped) == unreadable
    assert all(item["problem"] for item in summary["skipped_files"])
    # one warning, one line, naming every skipped file (up to five)
    listed = ", ".join(f"{item['relpath']} ({item['problem']})" for item in summary["skipped_files"])
    assert err == f"warning: skipped {len(unreadable)} unreadable image file(s): {listed}\n"
    readable = len(generated.all_paths())
    assert sum(summary["counts"][side]["total"]["images"] for side in ("train", "validation", "test")) == readable

    dataset = load(generated.root, tmp_path / "cache")
    assert dataset.cache.decoded == 0  # unreadable files are not tried again either
    assert sorted(dataset.skipped["relpath"]) == unreadable
    assert not set(unreadable) & set(dataset.records["relpath"])
