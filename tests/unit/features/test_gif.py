"""GIFs of results: the plans (pure), and Pillow's GIF from PyAV's frames within a size cap."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from bot.domain.errors import InvalidInput
from bot.fakes.clip_maker import make_clip
from bot.features.gif import GifPlan, gif_plans, make_gif, scaled


def test_plans_go_from_most_pixels_a_second_down_and_never_above_the_video() -> None:
    plans = gif_plans(1920, 1080)
    assert plans[0] == GifPlan(480, 12) and plans[-1] == GifPlan(160, 6)
    rates = [p.longest_px**2 * p.fps for p in plans]
    assert rates == sorted(rates, reverse=True)
    small = gif_plans(320, 180)
    assert max(p.longest_px for p in small) == 320 and len(small) == len(set(small))
    assert scaled(1920, 1080, 480) == (480, 270) and scaled(720, 1280, 480) == (270, 480)


def test_a_gif_loops_at_the_best_plan_that_fits(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "clip.mp4", width=1280, height=720, seconds=3.0)
    best = make_gif(clip, tmp_path / "best.gif", max_bytes=10 * 1024 * 1024)
    assert (best.width, best.height, best.fps, best.frames) == (480, 270, 12, 36)
    with Image.open(best.path) as image:
        assert (image.format, image.n_frames, image.info["loop"]) == ("GIF", 36, 0)
    capped = make_gif(clip, tmp_path / "capped.gif", max_bytes=best.size_bytes - 1)
    assert capped.size_bytes < best.size_bytes and (capped.width, capped.fps) != (480, 12)
    with pytest.raises(InvalidInput, match="Even a small GIF of this video"):
        make_gif(clip, tmp_path / "none.gif", max_bytes=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.gif", "capped.gif", "clip.mp4"]
