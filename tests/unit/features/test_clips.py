"""Clip rules (pure) and the /video options that carry a clip."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain.errors import InvalidInput
from bot.fakes.clip_maker import make_clip
from bot.features.clips import (
    ClipFacts,
    check_clip_facts,
    check_clip_metadata,
    probe_clip,
    sizes_apart,
)
from bot.features.media import AttachmentInfo
from bot.features.requests import VideoOptions, build_video_request
from bot.settings import OmniSettings

GOOD = ClipFacts(duration_s=5.0, width=1280, height=720, fps=30.0, codec="h264", has_audio=True)


def facts(**changes: object) -> ClipFacts:
    values = {
        "duration_s": GOOD.duration_s,
        "width": GOOD.width,
        "height": GOOD.height,
        "fps": GOOD.fps,
        "codec": GOOD.codec,
        "has_audio": GOOD.has_audio,
    }
    values.update(changes)
    return ClipFacts(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "sentence"),
    [
        ({"duration_s": 2.4}, "`video` is 2.4 s long; Kling needs 3 to 10 s"),
        ({"duration_s": 10.5}, "`video` is 10.5 s long; Kling needs 3 to 10 s"),
        ({"width": 640, "height": 480}, "`video` is 640×480 px; Kling needs each side"),
        ({"width": 3840, "height": 2160}, "`video` is 3840×2160 px; Kling needs each side"),
        ({"fps": 20.0}, "`video` runs at 20 fps; Kling needs 24 to 60 fps"),
        ({"fps": 120.0}, "`video` runs at 120 fps; Kling needs 24 to 60 fps"),
        ({"codec": "vp9"}, "`video` is encoded as vp9; Kling reads H.264 or H.265"),
    ],
)
def test_each_measured_rule_refuses_with_the_value_and_the_range(
    changes: dict[str, object], sentence: str
) -> None:
    with pytest.raises(InvalidInput) as refusal:
        check_clip_facts("video", facts(**changes))
    assert sentence in refusal.value.member_message


@pytest.mark.parametrize(
    "changes",
    [
        {},
        {"duration_s": 2.99},  # a muxer's rounding of a 3 s clip
        {"duration_s": 10.0},
        {"width": 720, "height": 2160},
        {"fps": 23.976},
        {"fps": 60.0},
        {"codec": "hevc"},
    ],
)
def test_clips_at_the_limits_pass(changes: dict[str, object]) -> None:
    check_clip_facts("video", facts(**changes))


@pytest.mark.parametrize(
    ("filename", "content_type", "size", "sentence"),
    [
        ("a.webm", "video/webm", 10, "`video` must be an MP4 or MOV clip; 'a.webm' is not"),
        ("a.mp4", "image/gif", 10, "`video` must be an MP4 or MOV clip"),
        ("a.mp4", "video/mp4", 200_000_001, "`video` is 200.000001 MB; Kling takes clips of"),
    ],
)
def test_metadata_refusals(filename: str, content_type: str, size: int, sentence: str) -> None:
    with pytest.raises(InvalidInput) as refusal:
        check_clip_metadata("video", filename, size, content_type, max_bytes=10**12)
    assert sentence in refusal.value.member_message


def test_metadata_accepts_mov_and_a_missing_content_type() -> None:
    check_clip_metadata("video", "holiday.MOV", 5_000_000, None, max_bytes=10**9)
    check_clip_metadata("video", "a.mp4", 5_000_000, "video/mp4; codecs=avc1", max_bytes=10**9)


def test_sizes_are_shown_with_as_many_decimals_as_it_takes_to_differ() -> None:
    assert sizes_apart(12_300_000, 10_000_000) == ("12.3 MB", "10.0 MB")
    assert sizes_apart(10 * 1024 * 1024 + 1, 10 * 1024 * 1024) == ("10.485761 MB", "10.485760 MB")


def test_the_probe_measures_a_real_clip(tmp_path: Path) -> None:
    path = make_clip(tmp_path / "c.mp4", width=720, height=1280, seconds=4, fps=30)
    measured = probe_clip("video", path)
    assert (measured.width, measured.height, measured.fps, measured.codec) == (
        720,
        1280,
        30,
        "h264",
    )
    assert measured.duration_s == pytest.approx(4.0, abs=0.05)
    assert not measured.has_audio


@pytest.mark.parametrize("content", [b"", b"not a video at all", b"\x00\x00\x00\x18ftypmp42"])
def test_the_probe_refuses_what_it_cannot_read(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.mp4"
    path.write_bytes(content)
    with pytest.raises(InvalidInput, match="is not a readable MP4 or MOV clip"):
        probe_clip("video", path)


def clip_info(size: int = 1_000_000) -> AttachmentInfo:
    return AttachmentInfo("video", "c.mp4", "https://cdn/c.mp4", size, "video/mp4")


def test_an_edit_sends_no_default_duration_or_shape_and_a_reference_does() -> None:
    defaults = OmniSettings()
    edit = build_video_request(
        VideoOptions(prompt="edit <<<video_1>>>", attachments=(clip_info(),)), defaults
    )
    assert (edit.duration_s, edit.aspect_ratio) == (None, None)
    assert edit.videos[0].refer_type == "base" and not edit.videos[0].keep_original_sound
    follow = build_video_request(
        VideoOptions(
            prompt="follow <<<video_1>>>",
            attachments=(clip_info(),),
            video_use="reference",
            keep_sound=True,
        ),
        defaults,
    )
    assert (follow.duration_s, follow.aspect_ratio) == (defaults.duration, defaults.aspect_ratio)
    assert follow.videos[0].refer_type == "feature" and follow.videos[0].keep_original_sound


def test_clip_options_without_a_clip_are_refused() -> None:
    with pytest.raises(InvalidInput, match="`video_use` and `keep_sound` apply to a clip"):
        build_video_request(VideoOptions(prompt="a boat", keep_sound=True), OmniSettings())


def test_the_smallest_limit_decides_and_is_named() -> None:
    options = VideoOptions(
        prompt="edit <<<video_1>>>",
        attachments=(clip_info(30_000_000),),
        upload_limit_bytes=25_000_000,
    )
    with pytest.raises(InvalidInput, match=r"re-posts your clip .* at most 25\.0 MB"):
        build_video_request(options, OmniSettings(), max_clip_bytes=100_000_000)
    with pytest.raises(InvalidInput, match=r"the bot is set to take clips of at most 20\.0 MB"):
        build_video_request(options, OmniSettings(), max_clip_bytes=20_000_000)
