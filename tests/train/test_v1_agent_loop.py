"""The cm2 agent loop under verl's v1 (TransferQueue) trainer path, in-process on CPU.

verl's real ``AgentLoopWorkerTQ`` (the class behind its Ray actor) runs the rollouts: ``generate_sequences`` takes
the trainer's TensorDict batch, spawns ``rollout.n`` sessions per prompt, instantiates our loop from the registry
file and ``_agent_loop_postprocess`` packs each output and puts it into TransferQueue. Only TransferQueue itself
is replaced (``init`` and the two puts are captured; a stub module stands in when the package is not installed).
The server side is verl's own ``LLMServerClient.generate`` in front of a fake server that reports its weight
version like vLLM's (``extra_fields["global_steps"]``).

What verl reads back is checked as verl reads it: the ``min_global_steps``/``max_global_steps`` tags go through
the exact ``np.array(..., dtype=int)`` lines of ``PPOTrainer._compute_metrics``; prompts/responses/rm_scores are
combined into jagged tensors as TransferQueue returns them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import re
import sys
import types
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from fake_llm_servers import InProcessLLMServerClient, ScriptedServer, VersionedServer
from train_fixtures import PERFECT_SCRIPT, loop_config, tool_call_text

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

STEP = 7
"""The trainer step the batch is drawn at (``batch["global_steps"]``)."""


# ----------------------------------------------------------------------------------------- verl v1 plumbing


@pytest.fixture(scope="module")
def agent_loop_tq():
    """verl's ``verl.trainer.ppo.v1.agent_loop_tq`` module; with a stub ``transfer_queue`` while importing it
    when the package is not installed (verl imports it at module level; every call is patched per test)."""
    try:
        import transfer_queue  # noqa: F401
    except ImportError:
        stub = types.ModuleType("transfer_queue")
        stub.__doc__ = "test stub: TransferQueue is not installed"
        stub.KVBatchMeta = type("KVBatchMeta", (), {})
        stub.BatchMeta = type("BatchMeta", (), {})
        sys.modules["transfer_queue"] = stub
        try:
            from verl.trainer.ppo.v1 import agent_loop_tq as module
        finally:
            sys.modules.pop("transfer_queue", None)
    else:
        from verl.trainer.ppo.v1 import agent_loop_tq as module
    return module


class CapturedTQ:
    """What the worker put into TransferQueue."""

    def __init__(self):
        self.status: dict[str, list[str]] = {}
        self.keys: list[str] = []
        self.fields: list[dict] = []
        self.tags: list[dict] = []

    async def async_kv_put(self, key, partition_id=None, tag=None, **kw):
        self.status.setdefault(key, []).append(tag["status"])

    async def async_kv_batch_put(self, keys, fields, tags, partition_id=None, **kw):
        assert partition_id == "train"
        assert len(keys) == len(tags) == fields.batch_size[0]
        for i, key in enumerate(keys):
            self.keys.append(key)
            self.tags.append(dict(tags[i]))
            self.fields.append({k: fields[k][i] for k in fields.keys()})


@pytest.fixture
def tq_capture(agent_loop_tq, monkeypatch):
    cap = CapturedTQ()
    tq = agent_loop_tq.tq
    if not (tq.__doc__ or "").startswith("test stub"):  # the real package: the captures take its call shapes
        inspect.signature(tq.async_kv_put).bind(key="k", partition_id="train", tag={"status": "running"})
        inspect.signature(tq.async_kv_batch_put).bind(keys=["k"], fields=None, tags=[{}], partition_id="train")
    monkeypatch.setattr(tq, "init", lambda *a, **k: None, raising=False)
    monkeypatch.setattr(tq, "async_kv_put", cap.async_kv_put, raising=False)
    monkeypatch.setattr(tq, "async_kv_batch_put", cap.async_kv_batch_put, raising=False)
    return cap


class NeverCalledRewardWorker:
    """The v1 trainer hands the agent-loop workers its reward workers (no reward model): never used for cm2."""

    class _Method:
        def remote(self, *a, **k):
            raise AssertionError("a reward worker was asked for a score: a cm2 sample arrived without reward_score")

    compute_score = _Method()


def _config(model_dir: Path, data_dir: Path, *extra: str):
    return loop_config(model_dir, data_dir, *extra, n=2)


def _v1_batch(cfg, tokenizer):
    """Rows → RLHFDataset → collate → uid → TensorDict with ``global_steps``, as verl's v1 trainer builds it
    (``PPOTrainer._fetch_one_gen_batch`` / ``_next_train_batch``)."""
    from verl.utils import tensordict_utils as tu
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    ds = RLHFDataset(data_files=[cfg.data.train_files], tokenizer=tokenizer, config=cfg.data)
    batch_dict = collate_fn([ds[i] for i in range(len(ds))])
    batch_dict["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(ds))], dtype=object)
    batch = tu.get_tensordict(batch_dict)
    tu.assign_non_tensor_data(batch, "global_steps", STEP)
    return batch


def _run_v1(agent_loop_tq, cfg, tokenizer, server) -> InProcessLLMServerClient:
    worker_cls = agent_loop_tq.AgentLoopWorkerTQ.__ray_actor_class__  # the class behind verl's Ray actor
    client = InProcessLLMServerClient(cfg, server)
    batch = _v1_batch(cfg, tokenizer)

    async def go():
        worker = worker_cls(cfg, llm_client=client, teacher_client=None,
                            reward_loop_worker_handles=[NeverCalledRewardWorker()])
        await worker.generate_sequences(batch)
        await asyncio.gather(*list(worker.background_tasks))

    asyncio.run(go())
    return client


def _compute_metrics_casts() -> list[str]:
    """The lines of verl's ``PPOTrainer._compute_metrics`` that turn the weight-version tags into int arrays."""
    from verl.trainer.ppo.v1.trainer_base import PPOTrainer

    src = inspect.getsource(PPOTrainer._compute_metrics)
    lines = [ln.strip() for ln in src.splitlines() if re.match(r"\s*(min|max)_global_steps = np\.array\(", ln)]
    assert len(lines) == 2 and all("dtype=int" in ln for ln in lines), lines
    return lines


def _verl_casts_tags(tags: list[dict]) -> dict[str, np.ndarray]:
    """Run verl's own cast lines on the tags (raises TypeError on a None, as the trainer would)."""
    ns = {"np": np, "batch": SimpleNamespace(tags=tags), "non_padding_mask": np.ones(len(tags), dtype=bool)}
    for line in _compute_metrics_casts():
        exec(line, ns)
    return {"min": ns["min_global_steps"], "max": ns["max_global_steps"]}


def _check_sample(field: dict, tag: dict) -> None:
    """One stored trajectory: unpadded 1-D tensors, the score on the last response token = last policy token."""
    prompts, responses, mask = field["prompts"], field["responses"], field["response_mask"]
    assert prompts.dim() == responses.dim() == 1
    n = responses.numel()
    assert mask.numel() == field["rm_scores"].numel() == field["rollout_log_probs"].numel() == n
    assert torch.equal(field["input_ids"], torch.cat([prompts, responses]))
    assert torch.equal(field["loss_mask"], mask)
    assert tag["prompt_len"] == prompts.numel() and tag["response_len"] == n
    score = field["extra_fields"]["reward_extra_info"]["cm2_score"]
    assert field["rm_scores"][-1].item() == pytest.approx(score)
    assert field["rm_scores"][:-1].abs().sum().item() == 0
    if mask.any():
        assert mask[-1].item() == 1  # the reward sits on a token the policy generated


@pytest.fixture
def weather_data(tmp_path, weather_task_file):
    from cm2_env.data.to_verl import to_verl

    out = tmp_path / "verl"
    to_verl(str(weather_task_file), out, val_fraction=0.0, seed=0)
    return out


# ----------------------------------------------------------------------------------------- tests


def test_v1_worker_tags_weight_versions_as_ints(tiny_lm, weather_data, agent_loop_tq, tq_capture):
    """Two sessions (one perfect, one with a wrong 2nd turn → different lengths); the server's weights move from
    step 5 to 6 after each episode's second generation: the tags are the first turn's 5 and the last turn's 6."""
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    wrong = [PERFECT_SCRIPT[0], PERFECT_SCRIPT[1], tool_call_text("convert_temp", {"celsius": 12}), "It is cold."]
    server = VersionedServer(ScriptedServer(tok, PERFECT_SCRIPT, wrong), steps=[5, 5, 6])
    _run_v1(agent_loop_tq, cfg, tok, server)

    uid = tq_capture.keys[0].rsplit("_", 2)[0]
    assert tq_capture.status == {uid: ["running", "finished"]}  # no session failed (errors are only logged)
    assert sorted(tq_capture.keys) == [f"{uid}_0_0", f"{uid}_1_0"]

    tags = tq_capture.tags
    for tag in tags:
        assert tag["status"] == "success" and tag["global_steps"] == STEP
        assert type(tag["min_global_steps"]) is int and type(tag["max_global_steps"]) is int
        assert (tag["min_global_steps"], tag["max_global_steps"]) == (5, 6)
    cast = _verl_casts_tags(tags)  # what the trainer does after the first actor update
    assert cast["min"].tolist() == [5, 5] and cast["max"].tolist() == [6, 6]

    scores = []
    for field, tag in zip(tq_capture.fields, tags):
        _check_sample(field, tag)
        extra = field["extra_fields"]
        # the server's extra_fields ride beside the loop's own keys
        assert extra["global_steps"] == 5 and extra["min_global_steps"] == 5 and extra["max_global_steps"] == 6
        assert {"reward_extra_info", "turn_scores", "turn_token_ends", "cm2"} <= set(extra)
        assert extra["reward_extra_info"]["cm2_aborted"] == 0 and extra["reward_extra_info"]["cm2_prompt_too_long"] == 0
        assert extra["turn_token_ends"][-1] == field["responses"].numel() - 1
        scores.append(extra["reward_extra_info"]["cm2_score"])
    assert sorted(scores) == pytest.approx([0.5, 1.0])

    # TransferQueue hands the trainer jagged tensors: the lengths _compute_metrics reads are the true lengths
    # (the two sessions share the prompt, so only the responses differ in length)
    td = list_of_dict_to_tensordict(tq_capture.fields)
    for key in ("responses", "response_mask", "rm_scores", "rollout_log_probs"):
        assert td[key].is_nested and td[key].layout == torch.jagged, key
    assert td["responses"].offsets().diff().tolist() == [f["responses"].numel() for f in tq_capture.fields]
    assert len({f["responses"].numel() for f in tq_capture.fields}) == 2
    padded = td["rm_scores"].to_padded_tensor(0.0)
    assert padded.sum(-1).tolist() == pytest.approx(scores)


def test_v1_worker_aborted_generation(tiny_lm, weather_data, agent_loop_tq, tq_capture):
    """The server aborts one session's third generation (turn 2's first): the episode ends there, nothing is sent
    to the env, the env scores it as it stands (turn 1 perfect, turn 2 unreached: 0.5), and the sample is flagged;
    its tags stay ints (the aborted output still reports its version)."""
    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    server = VersionedServer(ScriptedServer(tok, PERFECT_SCRIPT), steps=[5, 5, 6], abort={1: 2})
    _run_v1(agent_loop_tq, cfg, tok, server)

    uid = tq_capture.keys[0].rsplit("_", 2)[0]
    assert tq_capture.status == {uid: ["running", "finished"]}
    assert len([c for c in server.calls if c["aborted"]]) == 1
    cast = _verl_casts_tags(tq_capture.tags)
    assert cast["min"].tolist() == [5, 5] and cast["max"].tolist() == [6, 6]

    by_abort = {f["extra_fields"]["reward_extra_info"]["cm2_aborted"]: (f, t) for f, t in
                zip(tq_capture.fields, tq_capture.tags)}
    assert set(by_abort) == {0, 1}
    full, _ = by_abort[0]
    aborted, tag = by_abort[1]
    _check_sample(aborted, tag)
    info = aborted["extra_fields"]["reward_extra_info"]
    cm2 = aborted["extra_fields"]["cm2"]
    assert cm2["stop_reason"] == "aborted" and cm2["end_reason"] == "trainer_aborted"
    assert info["cm2_trainer_stopped"] == 1 and info["cm2_score"] == pytest.approx(0.5)
    # the env saw the two turn-1 messages only (never an empty action)
    assert [m["content"] for m in cm2["messages"] if m["role"] == "assistant"] == PERFECT_SCRIPT[:2]
    # the response ends with turn 1's answer: the unanswered user message after it is not in the stream
    n = aborted["responses"].numel()
    assert aborted["extra_fields"]["turn_token_ends"] == [n - 1]
    assert torch.equal(aborted["responses"], full["responses"][:n])
    assert "Fahrenheit" not in tok.decode(aborted["responses"].tolist())
    assert full["extra_fields"]["reward_extra_info"]["cm2_score"] == pytest.approx(1.0)


def test_v1_worker_prompt_too_long_is_flagged_not_cut(tiny_lm, weather_data, agent_loop_tq, tq_capture, caplog):
    """An opening prompt over data.max_prompt_length: no generation, reward 0, flagged, a warning; the sample
    still gets int version tags (the batch's step: no server reported one) and a placeholder response."""
    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data, "data.max_prompt_length=64")
    server = VersionedServer(ScriptedServer(tok, PERFECT_SCRIPT), steps=[5])
    with caplog.at_level(logging.WARNING, logger="train.verl.agent_loop"):
        _run_v1(agent_loop_tq, cfg, tok, server)

    assert server.calls == []
    assert any("data.max_prompt_length=64" in r.getMessage() for r in caplog.records)
    assert _verl_casts_tags(tq_capture.tags)["min"].tolist() == [STEP, STEP]
    for field, tag in zip(tq_capture.fields, tq_capture.tags):
        _check_sample(field, tag)
        info = field["extra_fields"]["reward_extra_info"]
        assert info["cm2_prompt_too_long"] == 1 and info["cm2_score"] == 0.0 and info["cm2_aborted"] == 0
        assert field["extra_fields"]["cm2"]["end_reason"] == "trainer_prompt_too_long"
        assert field["extra_fields"]["cm2"]["prompt_tokens"] > 64
        assert field["prompts"].numel() == 64
        assert field["response_mask"].tolist() == [0] and field["responses"].numel() == 1


# ----------------------------------------------------------------------------------------- the project trainer


class FakeStore:
    """TransferQueue's kv_batch_get/kv_batch_put over what the worker put (fields re-packed as the queue does)."""

    def __init__(self, captured: CapturedTQ):
        self.rows = dict(zip(captured.keys, captured.fields))
        self.written: dict = {}

    def kv_batch_get(self, keys, partition_id=None, select_fields=None):
        from verl.utils.tensordict_utils import list_of_dict_to_tensordict

        return list_of_dict_to_tensordict([{f: self.rows[k][f] for f in select_fields if f in self.rows[k]}
                                           for k in keys])

    def kv_batch_put(self, keys, partition_id=None, fields=None, **kw):
        self.written = {"keys": list(keys), "fields": fields}
        return kw.get("meta")


@pytest.mark.parametrize("level", ["turn", "step", "trajectory"])
def test_project_trainer_computes_cm2_advantages_through_verls_advantage_step(
        tiny_lm, weather_data, agent_loop_tq, tq_capture, monkeypatch, level):
    """Rollouts from verl's real v1 worker; CM2PPOTrainer._compute_advantage (verl's own step with the ``cm2``
    estimator) reads their credit records; only TransferQueue's get/put are replaced by the captured store."""
    from omegaconf import open_dict
    from transfer_queue import KVBatchMeta
    from verl.trainer.ppo.v1 import get_trainer_cls

    from train.grpo import apply_advantage_level
    from train.verl.advantages import RolloutCredit, compute

    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data, f"cm2.advantage={level}", "cm2.advantage_min_group=2")
    cfg = apply_advantage_level(cfg)
    with open_dict(cfg):
        cfg.algorithm.rollout_correction = None
    wrong = [PERFECT_SCRIPT[0], PERFECT_SCRIPT[1], tool_call_text("convert_temp", {"celsius": 12}), "It is cold."]
    _run_v1(agent_loop_tq, cfg, tok, ScriptedServer(tok, PERFECT_SCRIPT, wrong))
    store = FakeStore(tq_capture)
    import transfer_queue as tq

    monkeypatch.setattr(tq, "kv_batch_get", store.kv_batch_get)
    monkeypatch.setattr(tq, "kv_batch_put", store.kv_batch_put)
    trainer_cls = get_trainer_cls(cfg.trainer.v1.trainer_mode)
    trainer = trainer_cls.__new__(trainer_cls)  # the advantage step needs only the config
    trainer.config = cfg
    metrics: dict = {}
    keys = list(tq_capture.keys)
    trainer._compute_advantage(KVBatchMeta(keys=keys, tags=[{}] * len(keys), partition_id="train"), metrics)

    advantages = store.written["fields"]["advantages"]
    assert advantages.is_nested and advantages.layout == torch.jagged
    rows = [store.rows[k] for k in keys]
    want = None
    if level != "trajectory":
        assert trainer_cls.__name__ == "CM2PPOTrainer" and metrics["cm2/credit_missing"] == 0
        credits = [RolloutCredit.from_record(r["uid"], r["extra_fields"]["reward_extra_info"]["cm2_score"],
                                             r["extra_fields"]["cm2_credit"]) for r in rows]
        n = max(r["response_mask"].numel() for r in rows)
        mask = np.stack([np.pad(r["response_mask"].numpy(), (0, n - r["response_mask"].numel())) for r in rows])
        want = compute(level, credits, mask.astype(float), min_group=2)
    scores = [r["extra_fields"]["reward_extra_info"]["cm2_score"] for r in rows]
    for i, row in enumerate(rows):
        got = advantages[i].numpy()
        m = row["response_mask"].numpy().astype(bool)
        if level == "trajectory":
            assert np.allclose(got[m], scores[i] - np.mean(scores))
        else:
            assert np.allclose(got, want[i, : len(got)])
        assert np.all(got[~m] == 0)
    if level == "turn":  # same first turn (advantage 0 there), different second turns
        assert not np.allclose(advantages[0].numpy(), 0)
