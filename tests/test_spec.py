import ast
import dataclasses
import inspect

import pytest

import shared.core.spec as spec_module
from shared.core.errors import UserError
from shared.core.spec import CORRECTED, CORRECTIONS, PRESETS, TUTORIAL, WGANSpec, get_preset, parse_overrides


def test_tutorial_preset_is_what_the_tutorial_code_does():
    # BatchNorm1d(out, 0.8): 0.8 is eps (second positional), momentum stays torch's 0.1.
    assert (TUTORIAL.bn_eps, TUTORIAL.bn_momentum) == (0.8, 0.1)
    assert (TUTORIAL.rms_decay, TUTORIAL.rms_eps, TUTORIAL.rms_eps_placement) == (0.99, 1e-8, "outside")
    assert TUTORIAL.generator_reuses_z is True
    assert (TUTORIAL.lr, TUTORIAL.clip_value, TUTORIAL.n_critic, TUTORIAL.batch_size, TUTORIAL.latent_dim) == (5e-5, 0.01, 5, 64, 100)
    assert TUTORIAL.generator_hidden == (128, 256, 512, 1024) and TUTORIAL.critic_hidden == (512, 256)
    assert TUTORIAL.leaky_slope == 0.2


def test_corrected_differs_from_tutorial_only_in_documented_fields():
    changed = {f.name for f in dataclasses.fields(WGANSpec) if getattr(CORRECTED, f.name) != getattr(TUTORIAL, f.name)}
    assert changed == set(CORRECTIONS) == {"bn_eps", "generator_reuses_z", "generator_step_at",
                                           "counter_restarts_each_epoch", "drop_last_batch"}
    assert CORRECTED.bn_eps == 1e-5


def test_spec_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TUTORIAL.lr = 1.0  # type: ignore[misc]


def test_every_field_has_a_docstring():
    tree = ast.parse(inspect.getsource(spec_module.WGANSpec))
    body = tree.body[0].body
    documented = {stmt.target.id for stmt, nxt in zip(body, body[1:])
                  if isinstance(stmt, ast.AnnAssign) and isinstance(nxt, ast.Expr) and isinstance(nxt.value, ast.Constant)}
    assert documented == {f.name for f in dataclasses.fields(WGANSpec)}


@pytest.mark.parametrize("change, words", [
    (dict(clip_value=0.0), "clip_value"), (dict(clip_value=-0.01), "clip_value"), (dict(n_critic=0), "n_critic"),
    (dict(lr=0.0), "lr"), (dict(lr=-1e-4), "lr"), (dict(batch_size=1), "BatchNorm"), (dict(dtype="float16"), "dtype"),
    (dict(rms_eps_placement="middle"), "rms_eps_placement"), (dict(bn_momentum=0.0), "bn_momentum"),
    (dict(rms_decay=1.0), "rms_decay"), (dict(latent_dim=0), "latent_dim")])
def test_impossible_values_fail_with_one_line(change, words):
    with pytest.raises(UserError) as info:
        TUTORIAL.replace(**change)
    message = str(info.value)
    assert words in message and "\n" not in message


def test_unknown_preset_and_field_are_one_line_errors():
    with pytest.raises(UserError, match="unknown preset 'tutorail'.*tutorial"):
        get_preset("tutorail")
    with pytest.raises(UserError, match="unknown spec field"):
        TUTORIAL.replace(learning_rate=1e-4)
    with pytest.raises(UserError, match="unknown spec field"):
        parse_overrides(["learning_rate=1"])
    with pytest.raises(UserError, match="expected a float"):
        parse_overrides(["lr=fast"])


def test_overrides_are_typed_by_field():
    assert parse_overrides(["lr=1e-4", "n_critic=3", "generator_reuses_z=false", "critic_hidden=64,32"]) == \
        {"lr": 1e-4, "n_critic": 3, "generator_reuses_z": False, "critic_hidden": (64, 32)}


def test_json_round_trip_and_presets():
    for spec in PRESETS.values():
        assert WGANSpec.from_dict(spec.to_dict()) == spec
    assert PRESETS["native-keras"].leaky_slope == 0.3 and PRESETS["native-keras"].rms_eps_placement == "inside"
