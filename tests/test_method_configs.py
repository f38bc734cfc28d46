"""Every method config checks its fields' types (controllers/_fields.check_fields)."""

import pytest

from diffsim.controllers import aiming, baselines, bptt, gradient_free, shac
from diffsim.controllers._fields import check_fields

SB3 = {"hyperparams": {"n_timesteps": 1000}}

# (config class, required kwargs, field, wrong value, words the message must hold)
WRONG = [
    (bptt.BPTTConfig, {}, "lr", "abc", "a float"),
    (bptt.BPTTConfig, {}, "horizon", 2.5, "an int"),
    (bptt.BPTTConfig, {}, "horizon", True, "an int"),
    (bptt.BPTTConfig, {}, "fast", 1, "a bool"),
    (bptt.BPTTConfig, {}, "loss", 3, "a string"),
    (bptt.BPTTConfig, {}, "truncate_every", "x", "None or an int"),
    (bptt.BPTTConfig, {}, "policy", [1], "a dict"),
    (shac.SHACConfig, {}, "actor_lr", "fast", "a float"),
    (shac.SHACConfig, {}, "betas", (0.9,), "2 elements"),
    (shac.SHACConfig, {}, "actor_hidden", (64, "x"), "tuple (or list) of int"),
    (shac.SHACConfig, {}, "use_critic", 0, "a bool"),
    (shac.SHACConfig, {}, "episode_length", "a", "None or an int"),
    (aiming.AimingConfig, {}, "hidden", ["a"], "tuple (or list) of int"),
    (aiming.AimingConfig, {}, "batch_size", "big", "an int"),
    (aiming.AimingConfig, {}, "reach_filter", "yes", "a bool"),
    (gradient_free.CMAESConfig, {}, "sigma", "wide", "a float"),
    (gradient_free.CMAESConfig, {}, "popsize", 8.0, "an int"),
    (gradient_free.RetrofitConfig, {}, "start_scale", None, "a float"),
    (gradient_free.RetrofitConfig, {}, "params_override", "m=1", "a dict"),
    (baselines.SB3Config, SB3, "chunk", "1000", "None or an int"),
    (baselines.SB3Config, SB3, "overrides", [("learning_rate", 1e-3)], "a dict"),
]


@pytest.mark.parametrize("cls,required,name,value,words", WRONG)
def test_wrong_type_names_the_field_the_value_and_the_type(cls, required, name, value, words):
    with pytest.raises(TypeError) as info:
        cls(**required, **{name: value})
    message = str(info.value)
    assert f"{cls.__name__}.{name} must be" in message
    assert repr(value) in message
    assert words in message


def test_ints_are_floats_and_lists_are_tuples():
    config = shac.SHACConfig(actor_lr=1, actor_hidden=[32, 16], betas=[0.9, 1])
    assert config.actor_lr == 1
    assert config.actor_hidden == (32, 16) and isinstance(config.actor_hidden, tuple)
    assert config.betas == (0.9, 1) and isinstance(config.betas, tuple)
    assert bptt.BPTTConfig(truncate_every=None, grad_clip=None).grad_clip is None
    assert aiming.AimingConfig(hidden=[8]).hidden == (8,)


def test_a_valid_override_still_works_after_a_refused_one():
    with pytest.raises(TypeError):
        bptt.BPTTConfig(lr="abc")
    assert bptt.BPTTConfig(lr=0.5).lr == 0.5


def test_check_fields_reads_the_annotations_of_any_dataclass():
    from dataclasses import dataclass
    from typing import Optional

    @dataclass
    class Own:
        size: int = 1
        names: tuple[str, ...] = ()
        limit: Optional[float] = None

    check_fields(Own(2, ["a", "b"], 3))
    with pytest.raises(TypeError, match=r"Own.names must be a tuple \(or list\) of str"):
        check_fields(Own(names=("a", 2)))
