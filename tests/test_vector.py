"""The vector env: Gymnasium's VectorEnv API over cm2 envs on one event loop; autoreset modes; per-env options."""

from __future__ import annotations

import numpy as np
import pytest

from cm2_env.vector import make_vec

IDS = ["weather-001", "banking-001", "travel-001"]


def _opts():
    return [{"task_id": t} for t in IDS]


def test_batched_reset_and_step_with_per_env_options():
    vec = make_vec("cm2/ToolTask-v0", num_envs=3)
    obs, infos = vec.reset(seed=0, options=_opts())
    assert [o[1]["role"] for o in obs] == ["user"] * 3
    assert list(infos["task_id"]) == IDS
    obs, rewards, terms, truncs, infos = vec.step(["Hello."] * 3)  # a reply ends each first turn
    assert rewards.shape == terms.shape == truncs.shape == (3,) and rewards.dtype == np.float64
    assert all(o[-1]["role"] in ("assistant", "user") for o in obs)
    vec.close()


def test_next_step_autoreset_resets_a_finished_sub_env_on_the_following_step():
    vec = make_vec("cm2/ToolTask-v0", num_envs=2, early_stop=True)
    vec.reset(seed=0, options=_opts()[:2])
    for _ in range(10):  # wrong answers: early stop ends the episodes within a few steps
        _, _, terms, truncs, _ = vec.step(["I don't know."] * 2)
        if (terms | truncs).all():
            break
    assert (terms | truncs).all()
    obs, rewards, terms, truncs, infos = vec.step(["ignored"] * 2)  # NEXT_STEP: this step resets
    assert not terms.any() and not truncs.any() and (rewards == 0).all()
    assert [len(o) for o in obs] == [2, 2]  # fresh episodes: system + first user message
    vec.close()


def test_same_step_autoreset_reports_the_final_observation():
    vec = make_vec("cm2/ToolTask-v0", num_envs=1, autoreset_mode="same_step", max_turns=1)
    vec.reset(seed=0, options={"task_id": IDS[0]})
    obs, _, terms, truncs, infos = vec.step(["Hello."])
    assert terms[0] or truncs[0]
    assert "final_obs" in infos and infos["final_info"]["score"][0] is not None
    assert len(obs[0]) == 2  # already the next episode
    vec.close()


def test_disabled_autoreset_refuses_to_step_a_finished_env():
    vec = make_vec("cm2/ToolTask-v0", num_envs=1, autoreset_mode="disabled", max_turns=1)
    vec.reset(seed=0, options={"task_id": IDS[0]})
    vec.step(["Hello."])
    with pytest.raises(RuntimeError, match="autoreset is disabled"):
        vec.step(["again"])
    vec.close()
