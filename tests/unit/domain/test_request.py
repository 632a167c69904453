"""Every rule of the Omni request (Kling's fields and durations), accepted and refused, in words."""

from __future__ import annotations

from typing import Any

import pytest

from bot.domain.errors import InvalidInput
from bot.domain.request import (
    InputMode,
    allowed_durations,
    describe_durations,
    has_visible_text,
    load_stored_request,
    make_request,
)

IMG = {"url": "https://cdn.example/a.png"}
FIRST = {"url": "https://cdn.example/f.png", "frame": "first_frame"}
END = {"url": "https://cdn.example/e.png", "frame": "end_frame"}
BASE = {"url": "https://cdn.example/v.mp4", "refer_type": "base"}
FEATURE = {"url": "https://cdn.example/v.mp4", "refer_type": "feature"}
V3 = "kling-v3-omni"


def text(**extra: Any) -> dict[str, Any]:
    return {"prompt": "a paper boat in the rain", "aspect_ratio": "16:9", **extra}


ACCEPTED: list[tuple[str, dict[str, Any], InputMode]] = [
    ("text o1 5s", text(), InputMode.TEXT),
    ("text o1 10s pro", text(duration_s=10, mode="pro"), InputMode.TEXT),
    ("text v3 15s", text(model=V3, duration_s=15), InputMode.TEXT),
    ("text v3 3s", text(model=V3, duration_s=3), InputMode.TEXT),
    ("first frame o1", {"prompt": "dance", "images": [FIRST]}, InputMode.FRAMES),
    (
        "first+end o1 10s",
        {"prompt": "x", "images": [FIRST, END], "duration_s": 10},
        InputMode.FRAMES,
    ),
    (
        "first frame v3 7s",
        {"prompt": "x", "model": V3, "images": [FIRST], "duration_s": 7},
        InputMode.FRAMES,
    ),
    ("reference image o1 3s", text(images=[IMG], duration_s=3), InputMode.REFERENCE),
    ("elements o1 8s", text(elements=[{"element_id": 7}], duration_s=8), InputMode.REFERENCE),
    ("feature video o1", text(videos=[FEATURE], duration_s=6), InputMode.REFERENCE),
    ("feature video v3 10s", text(model=V3, videos=[FEATURE], duration_s=10), InputMode.REFERENCE),
    (
        "edit base video",
        {"prompt": "add a hat", "videos": [BASE], "duration_s": None},
        InputMode.EDIT,
    ),
    (
        "edit + 4 inputs",
        {
            "prompt": "x",
            "videos": [BASE],
            "duration_s": None,
            "images": [IMG] * 2,
            "elements": [{"element_id": 1}] * 2,
        },
        InputMode.EDIT,
    ),
    (
        "7 inputs no video",
        text(images=[IMG] * 4, elements=[{"element_id": 1}] * 3, duration_s=5),
        InputMode.REFERENCE,
    ),
    (
        "placeholders ok",
        text(
            prompt="<<<image_1>>> meets <<<element_1>>>", images=[IMG], elements=[{"element_id": 3}]
        ),
        InputMode.REFERENCE,
    ),
    (
        "storyboard customize",
        {
            "model": V3,
            "multi_shot": True,
            "shot_type": "customize",
            "prompt": "",
            "aspect_ratio": "16:9",
            "duration_s": 5,
            "shots": [{"prompt": "a dog", "duration_s": 2}, {"prompt": "it runs", "duration_s": 3}],
        },
        InputMode.STORYBOARD,
    ),
    (
        "storyboard intelligence",
        text(model=V3, multi_shot=True, shot_type="intelligence", duration_s=12),
        InputMode.STORYBOARD,
    ),
    ("sound on text", text(sound=True), InputMode.TEXT),
    (
        "data url stripped",
        text(images=[{"url": "data:image/png;base64,iVBORw0KGgo="}]),
        InputMode.REFERENCE,
    ),
    (
        "keep sound on feature",
        text(videos=[{**FEATURE, "keep_original_sound": True}], duration_s=5),
        InputMode.REFERENCE,
    ),
]


@pytest.mark.parametrize(
    ("fields", "mode"), [(f, m) for _, f, m in ACCEPTED], ids=[n for n, _, _ in ACCEPTED]
)
def test_accepted(fields: dict[str, Any], mode: InputMode) -> None:
    request = make_request(fields)
    assert request.input_mode is mode


REFUSED: list[tuple[str, dict[str, Any], str]] = [
    ("empty prompt", text(prompt="  "), "`prompt` is empty"),
    (
        "zero-width spaces",
        text(prompt="\u200b\u200b\u200b"),
        "`prompt` has only invisible characters (such as zero-width spaces): describe the video",
    ),
    ("a BOM and joiners", text(prompt="\ufeff \u200d\u2060\u200c"), "only invisible characters"),
    ("fillers and marks", text(prompt="\u3164\u2800\ufe0f\u00ad\u202e"), "only invisible"),
    ("prompt too long", text(prompt="x" * 2501), "2501 characters long: the limit is 2500"),
    (
        "bad model",
        text(model="kling-v9"),
        "`model` 'kling-v9' is not allowed: use kling-video-o1 or kling-v3-omni",
    ),
    ("bad mode", text(mode="fast"), "`mode` 'fast' is not allowed: use std or pro"),
    ("bad aspect", text(aspect_ratio="4:3"), "`aspect_ratio` '4:3' is not allowed"),
    (
        "o1 text 7s",
        text(duration_s=7),
        "`duration` 7 is not allowed for text-to-video on kling-video-o1: use 5 or 10",
    ),
    (
        "o1 first frame 3s",
        {"prompt": "x", "images": [FIRST], "duration_s": 3},
        "first-frame video on kling-video-o1: use 5 or 10",
    ),
    ("o1 reference 11s", text(images=[IMG], duration_s=11), "use 3 to 10"),
    ("v3 text 16s", text(model=V3, duration_s=16), "use 3 to 15"),
    (
        "v3 feature video 12s",
        text(model=V3, videos=[FEATURE], duration_s=12),
        "with a reference video on kling-v3-omni: use 3 to 10",
    ),
    (
        "edit with duration",
        {"prompt": "x", "videos": [BASE], "duration_s": 5},
        "can't be set when editing a video",
    ),
    ("missing aspect", {"prompt": "x"}, "`aspect_ratio` is required"),
    (
        "aspect with first frame",
        {"prompt": "x", "images": [FIRST], "aspect_ratio": "1:1"},
        "comes from the first frame",
    ),
    (
        "aspect with base video",
        {"prompt": "x", "videos": [BASE], "duration_s": None, "aspect_ratio": "1:1"},
        "comes from the edited video",
    ),
    ("two videos", text(videos=[FEATURE, FEATURE]), "Only one video"),
    ("8 inputs", text(images=[IMG] * 4, elements=[{"element_id": 1}] * 4), "at most 7"),
    (
        "5 inputs with video",
        text(videos=[FEATURE], images=[IMG] * 5),
        "at most 4 when a video is used",
    ),
    ("end without first", text(images=[END]), "An end frame needs a first frame"),
    ("end with 3 images", {"prompt": "x", "images": [FIRST, END, IMG]}, "more than 2 images"),
    (
        "frames with base video",
        {"prompt": "x", "images": [FIRST], "videos": [BASE], "duration_s": None},
        "can't be used while editing a video",
    ),
    ("two first frames", {"prompt": "x", "images": [FIRST, FIRST]}, "Only one first frame"),
    (
        "4 elements with first frame",
        {"prompt": "x", "images": [FIRST], "elements": [{"element_id": 1}] * 4},
        "at most 3 elements",
    ),
    (
        "sound with video",
        text(videos=[FEATURE], sound=True),
        "`sound` can't be on when a video is used",
    ),
    (
        "storyboard on o1",
        text(multi_shot=True, shot_type="intelligence"),
        "need the kling-v3-omni model",
    ),
    ("storyboard no shot_type", text(model=V3, multi_shot=True), "needs a `shot_type`"),
    (
        "storyboard with frame",
        {
            "prompt": "x",
            "model": V3,
            "multi_shot": True,
            "shot_type": "intelligence",
            "images": [FIRST],
        },
        "can't use a first or end frame",
    ),
    (
        "storyboard 7 shots",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=7,
            shots=[{"prompt": "s", "duration_s": 1}] * 7,
        ),
        "1 to 6 shots",
    ),
    (
        "storyboard no shots",
        text(model=V3, multi_shot=True, shot_type="customize"),
        "1 to 6 shots; this one has 0",
    ),
    (
        "storyboard sum",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=6,
            shots=[{"prompt": "a", "duration_s": 2}, {"prompt": "b", "duration_s": 3}],
        ),
        "add up to 5 s but the video lasts 6 s",
    ),
    (
        "storyboard shot zero",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=5,
            shots=[{"prompt": "a", "duration_s": 0}, {"prompt": "b", "duration_s": 5}],
        ),
        "Shot 1 lasts 0 s",
    ),
    (
        "storyboard empty shot",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=5,
            shots=[{"prompt": " ", "duration_s": 5}],
        ),
        "Shot 1 has no description",
    ),
    (
        "storyboard invisible shot",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=5,
            shots=[
                {"prompt": "a dog", "duration_s": 2},
                {"prompt": "\u200b\ufeff", "duration_s": 3},
            ],
        ),
        "Shot 2 has no description",
    ),
    (
        "storyboard long shot",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=5,
            shots=[{"prompt": "y" * 513, "duration_s": 5}],
        ),
        "the limit is 512 per shot",
    ),
    (
        "shots without storyboard",
        text(shots=[{"prompt": "a", "duration_s": 5}]),
        "only apply to a storyboard",
    ),
    (
        "intelligence with shots",
        text(
            model=V3,
            multi_shot=True,
            shot_type="intelligence",
            shots=[{"prompt": "a", "duration_s": 5}],
        ),
        "only used when you write them",
    ),
    (
        "placeholder too high",
        text(prompt="<<<image_2>>>", images=[IMG]),
        "refers to image 2, but only 1 image was given",
    ),
    ("placeholder none", text(prompt="<<<video_1>>>"), "refers to video 1, but no video was given"),
    (
        "placeholder in shot",
        text(
            model=V3,
            multi_shot=True,
            shot_type="customize",
            duration_s=5,
            shots=[{"prompt": "<<<element_1>>>", "duration_s": 5}],
        ),
        "refers to element 1",
    ),
    (
        "element id zero",
        text(elements=[{"element_id": 0}]),
        "`elements`: 0 is not a Kling element ID; an ID is a whole number from 1 to "
        "9223372036854775807, in the digits 0-9.",
    ),
    (
        "element id past a signed 64-bit integer",
        text(elements=[{"element_id": 2**63}]),
        "`elements`: 9223372036854775808 is not a Kling element ID",
    ),
    (
        "element id of 19 nines",
        text(elements=[{"element_id": "9999999999999999999"}]),
        "`elements`: 9999999999999999999 is not a Kling element ID",
    ),
    (
        "element id in Arabic-Indic digits",
        text(elements=[{"element_id": "١٢٣"}]),
        "`elements`: ١٢٣ is not a Kling element ID",
    ),
    ("element id as a float", text(elements=[{"element_id": 12.0}]), "12.0 is not a Kling"),
    ("element id with a sign", text(elements=[{"element_id": "+5"}]), "+5 is not a Kling"),
    ("element id true", text(elements=[{"element_id": True}]), "True is not a Kling element ID"),
    ("empty image", text(images=[{"url": "   "}]), "an image is empty"),
    ("duration not a number", text(duration_s="five"), "`duration` must be a whole number"),
    ("unknown field", text(negative_prompt="ugly"), "`negative_prompt` is not a setting"),
    (
        "bad refer type",
        text(videos=[{"url": "u", "refer_type": "style"}]),
        "'style' is not allowed: use feature or base",
    ),
]


@pytest.mark.parametrize(
    ("fields", "expected"), [(f, e) for _, f, e in REFUSED], ids=[n for n, _, _ in REFUSED]
)
def test_refused_with_a_clear_reason(fields: dict[str, Any], expected: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_request(fields)
    assert expected in caught.value.member_message


def test_request_is_frozen() -> None:
    request = make_request(text())
    with pytest.raises(Exception, match="frozen"):
        request.prompt = "changed"  # type: ignore[misc]


def test_round_trips_through_json() -> None:
    request = make_request(text(images=[IMG], elements=[{"element_id": 5}], duration_s=4))
    assert type(request).model_validate_json(request.model_dump_json()) == request


@pytest.mark.parametrize(
    ("model", "mode", "has_video", "expected"),
    [
        ("kling-video-o1", InputMode.TEXT, False, "5 or 10"),
        ("kling-video-o1", InputMode.FRAMES, False, "5 or 10"),
        ("kling-video-o1", InputMode.REFERENCE, True, "3 to 10"),
        ("kling-v3-omni", InputMode.TEXT, False, "3 to 15"),
        ("kling-v3-omni", InputMode.REFERENCE, True, "3 to 10"),
        ("kling-v3-omni", InputMode.STORYBOARD, False, "3 to 15"),
    ],
)
def test_duration_table(model: Any, mode: InputMode, has_video: bool, expected: str) -> None:
    assert describe_durations(allowed_durations(model, mode, has_video)) == expected


def test_edit_mode_has_no_duration_choice() -> None:
    assert allowed_durations("kling-video-o1", InputMode.EDIT, True) == ()


def test_a_stored_request_loads_even_if_the_rules_got_stricter() -> None:
    stored = make_request(text(duration_s=10)).model_dump_json()
    # Pretend a later release allows only 5 s: stored tasks must still load for resume.
    tampered = stored.replace('"duration_s":10', '"duration_s":7')
    with pytest.raises(ValueError, match="not allowed"):
        type(make_request(text())).model_validate_json(tampered)
    assert load_stored_request(tampered).duration_s == 7


def test_a_stored_element_id_loads_even_past_the_64_bit_rule() -> None:
    stored = make_request(text(elements=[{"element_id": 5}])).model_dump_json()
    older = stored.replace('"element_id":5', '"element_id":9999999999999999999')
    with pytest.raises(ValueError, match="is not a Kling element ID"):
        type(make_request(text())).model_validate_json(older)
    assert load_stored_request(older).elements[0].element_id == 9999999999999999999


@pytest.mark.parametrize("prompt", ["a cat", "猫", "😀", "e\u0301", "<<<image_1>>>", "١"])
def test_a_prompt_with_anything_visible_is_not_refused_as_invisible(prompt: str) -> None:
    assert has_visible_text(prompt)
