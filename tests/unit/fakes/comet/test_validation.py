"""The fake's independent reading of the create rules (Kling's Omni-Video fields), table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from bot.fakes.comet import allowed_durations, unknown_fields, validate_create_body

O1 = "kling-video-o1"
V3 = "kling-v3-omni"


def text(**changes: Any) -> dict[str, Any]:
    """A valid O1 text-to-video body, with `changes` applied (None deletes a key)."""
    body: dict[str, Any] = {
        "model_name": O1,
        "prompt": "A paper boat drifting down a rainy street",
        "mode": "std",
        "aspect_ratio": "16:9",
        "duration": "5",
        "sound": "off",
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def img(url: str = "https://cdn.example.com/a.png", kind: str | None = None) -> dict[str, Any]:
    return {"image_url": url} if kind is None else {"image_url": url, "type": kind}


FIRST = img(kind="first_frame")
END = img("https://cdn.example.com/b.png", kind="end_frame")


def video(refer_type: str = "feature", **extra: Any) -> dict[str, Any]:
    return {"video_url": "https://cdn.example.com/v.mp4", "refer_type": refer_type, **extra}


def frames(*images: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A first-frame body: no aspect_ratio, since the frame fixes it."""
    return text(**{"image_list": list(images), "aspect_ratio": None, **changes})


def edit(**changes: Any) -> dict[str, Any]:
    """A base-video (editing) body: no duration, no aspect_ratio."""
    return text(
        **{"video_list": [video("base")], "aspect_ratio": None, "duration": None, **changes}
    )


def shots(*durations: str, total: str, **changes: Any) -> dict[str, Any]:
    """A v3-omni multi-shot customize body."""
    multi = [
        {"index": i + 1, "prompt": f"shot {i + 1}", "duration": d} for i, d in enumerate(durations)
    ]
    defaults = {"model_name": V3, "multi_shot": True, "shot_type": "customize", "prompt": ""}
    return text(**{**defaults, "multi_prompt": multi, "duration": total, **changes})


VALID = [
    pytest.param(text(), id="o1-text-5"),
    pytest.param(text(duration="10"), id="o1-text-10"),
    pytest.param({"prompt": "p", "aspect_ratio": "1:1"}, id="defaults-model-and-duration"),
    pytest.param(text(prompt="x" * 2500), id="prompt-2500-chars"),
    pytest.param(text(mode="pro", sound="on", aspect_ratio="9:16"), id="pro-sound-on"),
    pytest.param(frames(FIRST, duration="10"), id="o1-first-frame-10"),
    pytest.param(frames(FIRST, END), id="o1-first-and-end"),
    pytest.param(text(image_list=[img()], duration="3"), id="o1-reference-image-3"),
    pytest.param(text(element_list=[{"element_id": 42}], duration="7"), id="o1-element-7"),
    pytest.param(text(element_list=[{"element_id": "42"}]), id="element-id-numeric-string"),
    pytest.param(text(video_list=[video()], duration="10"), id="o1-feature-video-10"),
    pytest.param(text(video_list=[video(keep_original_sound="yes")]), id="keep-sound-yes"),
    pytest.param(edit(), id="base-video-no-duration"),
    pytest.param(edit(duration="99"), id="base-video-duration-ignored"),
    pytest.param(
        text(video_list=[{"video_url": "https://x/v.mp4"}], aspect_ratio=None, duration=None),
        id="refer-type-defaults-to-base",
    ),
    pytest.param(text(model_name=V3, duration="15"), id="v3-text-15"),
    pytest.param(text(model_name=V3, duration="3"), id="v3-text-3"),
    pytest.param(text(model_name=V3, video_list=[video()], duration="10"), id="v3-feature-10"),
    pytest.param(shots("2", "3", total="5"), id="v3-multi-shot-customize"),
    pytest.param(shots("3", "3", "3", "2", "2", "2", total="15"), id="six-shots-15"),
    pytest.param(
        shots("1", "2", total="3", prompt="ignored <<<image_9>>>"), id="customize-ignores-prompt"
    ),
    pytest.param(
        text(model_name=V3, multi_shot=True, shot_type="intelligence", duration="12"),
        id="v3-multi-shot-intelligence",
    ),
    pytest.param(text(multi_shot=False, shot_type="bogus"), id="shot-type-ignored-single-shot"),
    pytest.param(
        text(image_list=[img() for _ in range(7)], duration="3"), id="seven-images-no-video"
    ),
    pytest.param(
        text(image_list=[img()] * 2, element_list=[{"element_id": 1}] * 2, video_list=[video()]),
        id="four-items-with-video",
    ),
    pytest.param(frames(FIRST, element_list=[{"element_id": 1}] * 3), id="first-frame-3-elements"),
    pytest.param(
        text(
            prompt="<<<image_2>>> meets <<<element_1>>> in <<<video_1>>>",
            image_list=[img(), img()],
            element_list=[{"element_id": 7}],
            video_list=[video()],
        ),
        id="placeholders-in-range",
    ),
    pytest.param(frames(FIRST, img(), prompt="<<<image_2>>>"), id="placeholder-counts-all-images"),
    pytest.param(text(cfg_scale=0.5, negative_prompt="blur"), id="unknown-fields-accepted"),
    pytest.param(text(image_list=None, video_list=None), id="absent-lists"),
    pytest.param({**text(), "image_list": None, "mode": None}, id="json-null-is-absent"),
    pytest.param(text(watermark_info={"enabled": False}), id="watermark-off"),
    pytest.param(text(external_task_id="discord-1-ab", callback_url="https://x/cb"), id="ids"),
]


@pytest.mark.parametrize("body", VALID)
def test_accepts(body: dict[str, Any]) -> None:
    assert validate_create_body(body) is None


INVALID = [
    pytest.param([], "body", id="not-an-object"),
    pytest.param(text(model_name="kling-v2-6"), "model_name", id="unknown-model"),
    pytest.param(text(prompt="x" * 2501), "prompt", id="prompt-2501-chars"),
    pytest.param(text(prompt=None), "prompt", id="prompt-missing"),
    pytest.param(text(prompt="   "), "prompt", id="prompt-blank"),
    pytest.param(text(prompt=5), "prompt", id="prompt-not-string"),
    pytest.param(text(mode="hd"), "mode", id="bad-mode"),
    pytest.param(text(sound="yes"), "sound", id="bad-sound"),
    pytest.param(text(aspect_ratio="4:3"), "aspect_ratio", id="bad-aspect"),
    pytest.param(text(duration=5), "duration", id="duration-int"),
    pytest.param(text(duration="5.0"), "duration", id="duration-fraction"),
    pytest.param(text(duration="7"), "duration", id="o1-text-7"),
    pytest.param(text(duration="15"), "duration", id="o1-text-15"),
    pytest.param(frames(FIRST, duration="3"), "duration", id="o1-first-frame-3"),
    pytest.param(text(image_list=[img()], duration="11"), "duration", id="o1-reference-11"),
    pytest.param(text(image_list=[img()], duration="2"), "duration", id="o1-reference-2"),
    pytest.param(text(model_name=V3, duration="16"), "duration", id="v3-16"),
    pytest.param(text(model_name=V3, duration="2"), "duration", id="v3-2"),
    pytest.param(
        text(model_name=V3, video_list=[video()], duration="11"), "duration", id="v3-feature-11"
    ),
    pytest.param(text(aspect_ratio=None), "aspect_ratio", id="aspect-missing-text"),
    pytest.param(frames(FIRST, aspect_ratio="16:9"), "aspect_ratio", id="aspect-with-first"),
    pytest.param(edit(aspect_ratio="16:9"), "aspect_ratio", id="aspect-with-base"),
    pytest.param(text(video_list=[video(), video()]), "video_list", id="two-videos"),
    pytest.param(text(image_list=[img()] * 8, duration="3"), "image_list", id="eight-images"),
    pytest.param(
        text(image_list=[img()] * 5, element_list=[{"element_id": 1}] * 3),
        "image_list",
        id="eight-images-and-elements",
    ),
    pytest.param(
        text(image_list=[img()] * 3, element_list=[{"element_id": 1}] * 2, video_list=[video()]),
        "image_list",
        id="five-items-with-video",
    ),
    pytest.param(text(image_list=[END], aspect_ratio=None), "image_list", id="end-without-first"),
    pytest.param(frames(FIRST, END, img()), "image_list", id="end-with-three-images"),
    pytest.param(frames(FIRST, FIRST), "image_list", id="two-first-frames"),
    pytest.param(edit(image_list=[FIRST]), "image_list", id="first-frame-with-base"),
    pytest.param(text(video_list=[video()], sound="on"), "sound", id="sound-on-with-video"),
    pytest.param(
        frames(FIRST, element_list=[{"element_id": 1}] * 4), "element_list", id="first+4-elements"
    ),
    pytest.param(
        text(element_list=[{"element_id": "abc"}]),
        "element_list[0].element_id",
        id="element-id-text",
    ),
    pytest.param(
        text(element_list=[{"element_id": True}]), "element_list[0].element_id", id="element-bool"
    ),
    pytest.param(
        text(element_list=[{"element_id": 1.5}]), "element_list[0].element_id", id="element-float"
    ),
    pytest.param(
        text(element_list=[{"element_id": 0}]), "element_list[0].element_id", id="element-zero"
    ),
    pytest.param(text(element_list=[{}]), "element_list[0].element_id", id="element-missing"),
    pytest.param(text(image_list=[img("")]), "image_list[0].image_url", id="image-url-empty"),
    pytest.param(text(image_list=[{"type": None}]), "image_list[0].image_url", id="no-image-url"),
    pytest.param(text(image_list=[img(kind="middle")]), "image_list[0].type", id="bad-image-type"),
    pytest.param(text(image_list="a.png"), "image_list", id="image-list-not-array"),
    pytest.param(text(image_list=["a.png"]), "image_list[0]", id="image-item-not-object"),
    pytest.param(
        text(video_list=[{"video_url": " ", "refer_type": "feature"}]),
        "video_list[0].video_url",
        id="video-url-blank",
    ),
    pytest.param(text(video_list=[video("edit")]), "video_list[0].refer_type", id="bad-refer-type"),
    pytest.param(
        text(video_list=[video(keep_original_sound=True)]),
        "video_list[0].keep_original_sound",
        id="keep-sound-bool",
    ),
    pytest.param(text(watermark_info=True), "watermark_info", id="watermark-not-object"),
    pytest.param(
        text(watermark_info={"enabled": "yes"}), "watermark_info.enabled", id="watermark-str"
    ),
    pytest.param(text(watermark_info={}), "watermark_info.enabled", id="watermark-empty"),
    pytest.param(text(external_task_id=""), "external_task_id", id="external-id-empty"),
    pytest.param(text(external_task_id=7), "external_task_id", id="external-id-int"),
    pytest.param(text(callback_url=5), "callback_url", id="callback-not-string"),
    pytest.param(
        text(prompt="<<<image_3>>>", image_list=[img(), img()], duration="3"),
        "prompt",
        id="image-placeholder-too-high",
    ),
    pytest.param(text(prompt="<<<image_0>>>", image_list=[img()]), "prompt", id="image-0"),
    pytest.param(text(prompt="<<<element_1>>>"), "prompt", id="element-placeholder-none"),
    pytest.param(text(prompt="<<<video_1>>>"), "prompt", id="video-placeholder-none"),
    pytest.param(text(multi_shot=True, shot_type="customize"), "multi_shot", id="multi-shot-o1"),
    pytest.param(text(model_name=V3, multi_shot="true"), "multi_shot", id="multi-shot-string"),
    pytest.param(text(model_name=V3, multi_shot=True), "shot_type", id="shot-type-missing"),
    pytest.param(
        text(model_name=V3, multi_shot=True, shot_type="auto"), "shot_type", id="bad-shot-type"
    ),
    pytest.param(shots(total="5"), "multi_prompt", id="no-shots"),
    pytest.param(shots(*["1"] * 7, total="7"), "multi_prompt", id="seven-shots"),
    pytest.param(shots("2", "2", total="5"), "multi_prompt", id="shots-do-not-add-up"),
    pytest.param(shots("5", "0", total="5"), "multi_prompt[1].duration", id="shot-duration-0"),
    pytest.param(
        shots("5", total="5", multi_prompt=[{"prompt": "a", "duration": 5}]),
        "multi_prompt[0].duration",
        id="shot-duration-int",
    ),
    pytest.param(
        shots("5", total="5", multi_prompt=[{"prompt": "", "duration": "5"}]),
        "multi_prompt[0].prompt",
        id="shot-prompt-empty",
    ),
    pytest.param(
        shots("5", total="5", multi_prompt=[{"prompt": "x" * 513, "duration": "5"}]),
        "multi_prompt[0].prompt",
        id="shot-prompt-513",
    ),
    pytest.param(
        shots("5", total="5", multi_prompt=[{"prompt": "<<<image_1>>>", "duration": "5"}]),
        "multi_prompt[0].prompt",
        id="shot-placeholder-out-of-range",
    ),
    pytest.param(shots("8", "8", total="16"), "duration", id="multi-shot-over-15"),
    pytest.param(shots("1", "1", total="2"), "duration", id="multi-shot-under-3"),
    pytest.param(
        shots("2", "3", total="5", image_list=[FIRST], aspect_ratio=None),
        "image_list",
        id="multi-shot-with-first-frame",
    ),
    pytest.param(
        text(model_name=V3, multi_shot=True, shot_type="intelligence", prompt=""),
        "prompt",
        id="intelligence-needs-prompt",
    ),
]


@pytest.mark.parametrize(("body", "field"), INVALID)
def test_refuses_with_field_and_reason(body: object, field: str) -> None:
    message = validate_create_body(body)
    assert message is not None
    named, _, reason = message.partition(": ")
    assert named == field
    assert reason


def test_allowed_durations_follow_the_capability_table() -> None:
    assert list(allowed_durations(O1, has_references=False, has_feature_video=False)) == [5, 10]
    assert allowed_durations(O1, has_references=True, has_feature_video=False) == range(3, 11)
    assert allowed_durations(O1, has_references=False, has_feature_video=True) == range(3, 11)
    assert allowed_durations(V3, has_references=False, has_feature_video=False) == range(3, 16)
    assert allowed_durations(V3, has_references=True, has_feature_video=True) == range(3, 11)


def test_unknown_fields_are_listed_with_their_path() -> None:
    body = text(
        cfg_scale=0.5,
        image_list=[{"image_url": "u", "name": "x"}],
        watermark_info={"enabled": True, "logo": "y"},
    )
    assert unknown_fields(body) == ["cfg_scale", "image_list[0].name", "watermark_info.logo"]
    assert unknown_fields(text()) == []
    assert unknown_fields("not a body") == []
