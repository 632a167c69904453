"""The create body's vocabulary (Kling's Omni-Video fields): allowed values and known keys."""

from __future__ import annotations

O1 = "kling-video-o1"
V3 = "kling-v3-omni"
MODELS = (O1, V3)
MODES = ("std", "pro")
SOUNDS = ("on", "off")
ASPECT_RATIOS = ("16:9", "9:16", "1:1")
IMAGE_TYPES = ("first_frame", "end_frame")
REFER_TYPES = ("feature", "base")
KEEP_SOUND = ("yes", "no")
SHOT_TYPES = ("customize", "intelligence")
DEFAULT_DURATION = "5"
MAX_PROMPT_CHARS = 2500
MAX_SHOT_PROMPT_CHARS = 512
MAX_SHOTS = 6

# Known keys per object; anything else is accepted and reported by `unknown_fields`.
_TOP_KEYS = frozenset(
    {
        "model_name",
        "prompt",
        "multi_shot",
        "shot_type",
        "multi_prompt",
        "image_list",
        "element_list",
        "video_list",
        "sound",
        "mode",
        "aspect_ratio",
        "duration",
        "watermark_info",
        "callback_url",
        "external_task_id",
    }
)
_ITEM_KEYS = {
    "image_list": frozenset({"image_url", "type"}),
    "element_list": frozenset({"element_id"}),
    "video_list": frozenset({"video_url", "refer_type", "keep_original_sound"}),
    "multi_prompt": frozenset({"index", "prompt", "duration"}),
}
_WATERMARK_KEYS = frozenset({"enabled"})


def unknown_fields(body: object) -> list[str]:
    """Paths of keys the spec does not define, e.g. `["cfg_scale", "image_list[0].name"]`."""
    if not isinstance(body, dict):
        return []
    found = [key for key in body if key not in _TOP_KEYS]
    for list_key, known in _ITEM_KEYS.items():
        items = body.get(list_key)
        if isinstance(items, list):
            for i, item in enumerate(items):
                if isinstance(item, dict):
                    found += [f"{list_key}[{i}].{key}" for key in item if key not in known]
    watermark = body.get("watermark_info")
    if isinstance(watermark, dict):
        found += [f"watermark_info.{key}" for key in watermark if key not in _WATERMARK_KEYS]
    return found
