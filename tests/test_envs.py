"""Env registration from envs_registry.yaml; gym.make in a fresh interpreter; kwargs override defaults."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest
import yaml

import cm2_env
from cm2_env.envs import ENVS_REGISTRY_PATH as REGISTRY_PATH, env_specs
from cm2_test_servers.fresh import run_fresh


def test_import_registers_everything_declared():
    declared = yaml.safe_load(REGISTRY_PATH.read_text())
    assert "cm2/ToolTask-v0" in declared
    assert set(cm2_env.ENV_IDS) == set(declared)
    for env_id, spec in declared.items():
        assert env_id in gym.registry
        gspec = gym.spec(env_id)
        assert gspec.entry_point == spec["entry_point"]
        assert gspec.kwargs == (spec.get("kwargs") or {})
    assert env_specs() == declared


def test_register_all_is_idempotent():
    before = dict(gym.registry)
    assert cm2_env.register_all() == cm2_env.ENV_IDS
    assert dict(gym.registry).keys() == before.keys()


def test_gym_make_in_a_fresh_interpreter():
    code = (
        "import gymnasium as gym, json\n"
        "env = gym.make('cm2_env:cm2/ToolTask-v0')\n"
        "obs, info = env.reset(seed=0)\n"
        "obs2, r, term, trunc, info2 = env.step('hello')\n"
        "print(json.dumps({'task': info['task_id'], 'n': len(env.unwrapped.tasks), 'roles': [m['role'] for m in obs],"
        " 'type': type(env.unwrapped).__name__}))\n"
    )
    res = run_fresh(code)
    assert res["type"] == "ToolTaskEnv" and res["n"] >= 1
    assert res["roles"] == ["system", "user"]


def test_gym_make_kwargs_override_registry_defaults(tmp_path):
    env = gym.make("cm2/ToolTask-v0", reward_level="turn", early_stop=False, max_steps_per_turn=3)
    u = env.unwrapped
    assert (u.reward_level, u.early_stop, u.max_steps_per_turn) == ("turn", False, 3)
    default = gym.make("cm2/ToolTask-v0").unwrapped
    assert default.reward_level == "trajectory" and default.early_stop is True
    # tasks from another file instead of the registry's default suite
    task = {"id": "only-one", "tools": [], "turns": [{"user": "hi"}]}
    f = tmp_path / "one.json"
    f.write_text(json.dumps({"tasks": [task]}))
    assert [t.id for t in gym.make("cm2/ToolTask-v0", tasks=str(f)).unwrapped.tasks] == ["only-one"]


def test_cm2_env_make_returns_unwrapped_and_overrides():
    env = cm2_env.make("cm2/ToolTask-v0", task_selector="domain:banking", reward_level="turn")
    assert isinstance(env, cm2_env.ToolTaskEnv)
    assert env.reward_level == "turn"
    assert env.tasks and {t.domain for t in env.tasks} == {"banking"}
    with pytest.raises(ValueError):
        cm2_env.make("cm2/ToolTask-v0", task_selector="no-such-*")
