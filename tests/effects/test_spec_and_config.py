"""EffectSpec and EffectsConfig refuse bad fields with a message naming the field."""

from __future__ import annotations

import dataclasses

import pytest

from effects.config import EffectsConfig
from effects.errors import InvalidEffectsConfig, InvalidEffectSpec
from effects.spec import BlurStrength, EffectKind, EffectSpec


def test_spec_accepts_plain_strings_and_names_itself():
    blur = EffectSpec.parse("blur", "strong")
    assert blur.kind is EffectKind.BLUR and blur.strength is BlurStrength.STRONG
    assert blur.name == "blur:strong"
    assert EffectSpec.parse("none").name == "none"
    image = EffectSpec.parse("image", org="org-a", image_id="img_1")
    assert image.name == "image:img_1"
    assert EffectSpec.parse("blur", "strong") == EffectSpec(EffectKind.BLUR, BlurStrength.STRONG)
    assert EffectSpec("blur", "strong") == blur  # type: ignore[arg-type]  # strings also work directly
    with pytest.raises(dataclasses.FrozenInstanceError):
        blur.kind = EffectKind.NONE  # type: ignore[misc]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "sepia"}, "kind"),
        ({"kind": None}, "kind"),
        ({"kind": "blur", "strength": "medium"}, "strength"),
        ({"kind": "image", "image_id": "img_1"}, "org"),
        ({"kind": "image", "org": "org-a"}, "image_id"),
        ({"kind": "image", "org": "org-a", "image_id": ""}, "image_id"),
    ],
)
def test_spec_refuses_bad_fields(kwargs, field):
    with pytest.raises(InvalidEffectSpec, match=f"^{field}:"):
        EffectSpec.parse(**kwargs)
    with pytest.raises(InvalidEffectSpec, match=f"^{field}:"):
        EffectSpec(**kwargs)


def test_parse_refuses_non_string_ids():
    with pytest.raises(InvalidEffectSpec, match=r"^image_id: must be a string"):
        EffectSpec.parse("image", org="org-a", image_id=12)


def test_config_defaults_follow_the_brief():
    config = EffectsConfig()
    assert config.max_image_bytes == 5 * 1024 * 1024
    assert (config.min_image_width, config.min_image_height) == (160, 90)
    assert (config.max_image_width, config.max_image_height) == (4096, 4096)
    assert config.model_path is None


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"model_variant": "tiny"}, "model_variant"),
        ({"max_image_bytes": 0}, "max_image_bytes"),
        ({"max_images_per_org": True}, "max_images_per_org"),
        ({"mask_smoothing": 0.0}, "mask_smoothing"),
        ({"mask_low": 0.8, "mask_high": 0.7}, "mask_low/mask_high"),
        ({"feather": 0.5}, "feather"),
        ({"default_fps": 0.5}, "default_fps"),
        ({"min_image_width": 5000}, "min_image_width/height"),
        ({"min_segment_every": 5}, "min_segment_every"),
        ({"min_segment_every": 0}, "min_segment_every"),
    ],
)
def test_config_refuses_bad_fields(kwargs, field):
    with pytest.raises(InvalidEffectsConfig, match=f"^{field}:"):
        EffectsConfig(**kwargs)


def test_config_takes_a_string_model_path(tmp_path):
    config = EffectsConfig(model_path=str(tmp_path / "m.tflite"))  # type: ignore[arg-type]
    assert config.model_path == tmp_path / "m.tflite"
