import os

import numpy as np
import pytest
from PIL import Image

from refmatte.atomic import atomic_path, atomic_write_bytes, remove_stale_temps
from refmatte.imaging import ImageReadError, encode_rgba_png, read_alpha, read_rgb, read_rgba

RAMP = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (8, 1))  # (8, 64) every 4th level


def test_alpha_16bit_is_rescaled_to_8bit(tmp_path):
    Image.fromarray(RAMP.astype(np.uint16) * 257).save(tmp_path / "a.png")
    out = read_alpha(tmp_path / "a.png")
    assert out.array.dtype == np.uint8 and np.array_equal(out.array, RAMP)
    assert out.fixes == ["alpha-16bit-to-8bit"]


def test_alpha_three_equal_channels_use_the_first(tmp_path):
    Image.fromarray(np.dstack([RAMP] * 3)).save(tmp_path / "a.png")
    out = read_alpha(tmp_path / "a.png")
    assert np.array_equal(out.array, RAMP) and out.fixes == ["alpha-rgb-first-channel"]


def test_alpha_coloured_channels_fall_back_to_luma(tmp_path):
    rgb = np.zeros((8, 64, 3), np.uint8)
    rgb[..., 1] = RAMP
    Image.fromarray(rgb).save(tmp_path / "a.png")
    out = read_alpha(tmp_path / "a.png")
    assert out.fixes == ["alpha-rgb-to-luma"]
    assert np.abs(out.array.astype(int) - np.rint(RAMP * 0.587)).max() <= 1


def test_cmyk_and_gray_images_become_rgb(tmp_path):
    rgb = np.dstack([RAMP, RAMP[:, ::-1], np.full_like(RAMP, 90)])
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=98)
    Image.fromarray(RAMP).save(tmp_path / "g.png")
    c, g = read_rgb(tmp_path / "c.jpg"), read_rgb(tmp_path / "g.png")
    assert c.array.shape == (8, 64, 3) and c.fixes == ["image-cmyk-to-rgb"]
    assert np.abs(c.array.astype(int) - rgb).mean() < 4  # JPEG tolerance
    assert np.array_equal(g.array[..., 2], RAMP) and g.fixes == ["image-l-to-rgb"]


def test_exif_orientation_is_applied(tmp_path):
    shown = np.zeros((10, 30, 3), np.uint8)
    shown[:, :5] = 255  # white band on the left when displayed
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(shown).transpose(Image.Transpose.ROTATE_90).save(tmp_path / "r.jpg", exif=exif.tobytes(), quality=98)
    out = read_rgb(tmp_path / "r.jpg")
    assert out.array.shape == (10, 30, 3) and out.fixes == ["exif-orientation-6"]
    assert out.array[:, :5].mean() > 200 and out.array[:, 10:].mean() < 30


def test_truncated_and_missing_files_raise_with_reason(tmp_path):
    Image.fromarray(np.dstack([RAMP] * 3)).save(tmp_path / "t.jpg")
    (tmp_path / "t.jpg").write_bytes((tmp_path / "t.jpg").read_bytes()[:200])
    (tmp_path / "n.png").write_text("not an image")
    with pytest.raises(ImageReadError) as e:
        read_rgb(tmp_path / "t.jpg")
    assert e.value.reason == "unreadable_image" and "t.jpg" in str(e.value)
    with pytest.raises(ImageReadError) as e:
        read_alpha(tmp_path / "n.png")
    assert e.value.reason == "unreadable_alpha"
    with pytest.raises(ImageReadError) as e:
        read_rgb(tmp_path / "absent.png")
    assert e.value.reason == "missing_file"


def test_rgba_png_round_trip_is_lossless(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (12, 17, 3), dtype=np.uint8)
    a = rng.integers(0, 256, (12, 17), dtype=np.uint8)
    (tmp_path / "x.png").write_bytes(encode_rgba_png(rgb, a))
    back = read_rgba(tmp_path / "x.png")
    assert np.array_equal(back[..., :3], rgb) and np.array_equal(back[..., 3], a)


def test_atomic_write_leaves_old_file_on_failure_and_sweeps_temps(tmp_path):
    target = tmp_path / "sub" / "f.bin"
    atomic_write_bytes(target, b"old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert list(target.parent.iterdir()) == [target]
    from refmatte.atomic import TEMP_PREFIX, _HOST

    dead = 2**22 + 12345  # above the kernel's pid limit: no process has it
    left = target.parent / f"{TEMP_PREFIX}{_HOST}-{dead}-f.bin"
    left.write_bytes(b"left by a killed run")
    alive = target.parent / f"{TEMP_PREFIX}{_HOST}-{os.getpid()}-g.bin"  # a run still writing it
    alive.write_bytes(b"in flight")
    users = [target.parent / ".f.bin.999.tmp", target.parent / ".notes.1.tmp"]  # a user's files of the old pattern
    for f in users:
        f.write_bytes(b"mine")
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(target.parent.iterdir()) == sorted([target, alive, *users])


def test_cutout_matte_in_the_alpha_channel_is_used(tmp_path):
    rgba = np.zeros((8, 64, 4), np.uint8)
    rgba[..., 3] = RAMP
    Image.fromarray(rgba).save(tmp_path / "a.png")
    out = read_alpha(tmp_path / "a.png")
    assert np.array_equal(out.array, RAMP) and out.fixes == ["alpha-rgba-alpha-channel"]


def test_bad_label_files_are_one_sentence(tmp_path):
    from refmatte.sources import SourceLayoutError, load_labels

    (tmp_path / "l.json").write_text("{not json")
    with pytest.raises(SourceLayoutError, match="not valid UTF-8 JSON or CSV"):
        load_labels(tmp_path / "l.json")
