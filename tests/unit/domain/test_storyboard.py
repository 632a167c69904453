"""/storyboard: shots as members write them, and the multi-shot request built from them."""

from __future__ import annotations

import pytest

from bot.domain.errors import InvalidInput
from bot.domain.storyboard import parse_shots
from bot.features.requests import StoryboardOptions, build_storyboard_request
from bot.settings import OmniSettings

DEFAULTS = OmniSettings()


@pytest.mark.parametrize(
    ("text", "shots"),
    [
        (
            "2: a dog by the sea | 3: it runs along the beach",
            [(2, "a dog by the sea"), (3, "it runs along the beach")],
        ),
        ("5s: one long shot", [(5, "one long shot")]),
        (" 4 sec : slow pan |1:cut", [(4, "slow pan"), (1, "cut")]),
    ],
)
def test_shots_are_read_as_members_write_them(text: str, shots: list[tuple[int, str]]) -> None:
    assert parse_shots(text) == shots


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("   ", "`shots` is empty"),
        ("2: a dog ||", "Shot 2 is empty"),
        ("a dog by the sea", "Shot 1 needs its length first"),
    ],
)
def test_malformed_shots_are_refused_with_an_example(text: str, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected) as caught:
        parse_shots(text)
    assert "2: a dog by the sea | 3: it runs along the beach" in caught.value.member_message


def test_custom_shots_make_a_customize_request_lasting_their_sum() -> None:
    request = build_storyboard_request(StoryboardOptions(shots="2: a dog | 3: it runs"), DEFAULTS)
    assert (request.model, request.multi_shot, request.shot_type) == (
        "kling-v3-omni",
        True,
        "customize",
    )
    assert request.duration_s == 5
    assert [(s.duration_s, s.prompt) for s in request.shots] == [(2, "a dog"), (3, "it runs")]


def test_a_duration_that_is_not_the_sum_is_refused() -> None:
    with pytest.raises(InvalidInput, match="add up to 5 s but the video lasts 8 s"):
        build_storyboard_request(StoryboardOptions(shots="2: a | 3: b", duration=8), DEFAULTS)


def test_a_prompt_alone_lets_kling_plan_the_shots() -> None:
    request = build_storyboard_request(
        StoryboardOptions(prompt="a day at the beach", duration=12), DEFAULTS
    )
    assert (request.shot_type, request.duration_s, request.shots) == ("intelligence", 12, ())


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (StoryboardOptions(shots="2: a", prompt="b"), "not both"),
        (StoryboardOptions(), "Give `shots`"),
        (StoryboardOptions(shots="1: a | 1: b | 1: c | 1: d | 1: e | 1: f | 1: g"), "1 to 6 shots"),
    ],
)
def test_storyboard_refusals(options: StoryboardOptions, expected: str) -> None:
    with pytest.raises(InvalidInput, match=expected):
        build_storyboard_request(options, DEFAULTS)
