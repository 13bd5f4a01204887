"""End-to-end CPU tests of the cm2 agent loop inside verl's own AgentLoopWorker.

Rows come from ``cm2 data to-verl`` and are loaded with verl's ``RLHFDataset``; the batch is repeated per
rollout (GRPO group) exactly like verl's trainer does; verl's worker instantiates our loop from the
agent-loop registry file, runs it, pads the outputs and builds ``rm_scores`` from ``reward_score``. A tiny
Qwen2 model + tokenizer are built locally by the test (no download).
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

from train_fixtures import PERFECT_SCRIPT, WEATHER_TOOLS, loop_config, tool_call_text
from fake_llm_servers import HFServer, ScriptedServer

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _config(model_dir: Path, data_dir: Path, *extra: str):
    return loop_config(model_dir, data_dir, *extra, n=3)


def _batch(cfg, tokenizer, n: int, split: str = "train"):
    """Rows → verl's RLHFDataset → collate → uid per prompt → repeat n (interleaved), as in verl's trainer."""
    from verl.protocol import DataProto
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn

    files = cfg.data.train_files if split == "train" else cfg.data.val_files
    ds = RLHFDataset(data_files=[files], tokenizer=tokenizer, config=cfg.data)
    batch_dict = collate_fn([ds[i] for i in range(len(ds))])
    batch_dict["uid"] = np.array([str(uuid.uuid4()) for _ in range(len(ds))], dtype=object)
    batch = DataProto.from_single_dict(batch_dict)
    return batch.repeat(repeat_times=n, interleave=True)


def _worker(cfg, server):
    from verl.experimental.agent_loop.agent_loop import AgentLoopWorker

    return AgentLoopWorker(cfg, llm_client=server, teacher_client=None, reward_loop_worker_handles=None)


@pytest.fixture
def weather_data(tmp_path, weather_task_file):
    from cm2_env.data.to_verl import to_verl

    out = tmp_path / "verl"
    summary = to_verl(str(weather_task_file), out, val_fraction=0.0, seed=0)
    assert summary["train_rows"] == 1
    return out


def _segments(mask: list[int]) -> list[tuple[int, int, int]]:
    """(value, start, end) runs of a 0/1 mask."""
    runs, start = [], 0
    for i in range(1, len(mask) + 1):
        if i == len(mask) or mask[i] != mask[start]:
            runs.append((mask[start], start, i))
            start = i
    return runs


def _raw_conversation(messages: list[dict], texts: list[str]) -> list[dict]:
    """The env's conversation with each assistant message replaced by the raw text the model generated."""
    it = iter(texts)
    out = []
    for m in messages:
        if m["role"] == "assistant":
            out.append({"role": "assistant", "content": next(it)})
        else:
            out.append(m)
    return out


def _run(worker, batch):
    import asyncio

    return asyncio.run(worker.generate_sequences(batch))


def _one_sample(output, i: int) -> dict:
    """Unpad sample i of the worker's DataProto output."""
    b = output.batch
    attn = b["attention_mask"][i]
    p_len = b["prompts"].shape[1]
    prompt = b["prompts"][i][attn[:p_len].bool()].tolist()
    r_attn = attn[p_len:].bool()
    response = b["responses"][i][r_attn].tolist()
    mask = b["response_mask"][i][r_attn].tolist()
    return {
        "prompt": prompt,
        "response": response,
        "mask": mask,
        "rm": b["rm_scores"][i],
        "logprobs": b["rollout_log_probs"][i][r_attn].tolist() if "rollout_log_probs" in b.keys() else None,
        "extra": {k: output.non_tensor_batch[k][i] for k in ("turn_scores", "turn_token_ends", "cm2")},
        "num_turns": int(output.non_tensor_batch["__num_turns__"][i]),
    }


def _replay_score(task_file: Path, texts: list[str]) -> float:
    """Score the same assistant texts in a fresh env (what the env's checklist says about them)."""
    import cm2_env

    env = cm2_env.make("cm2/ToolTask-v0", tasks=str(task_file))
    env.reset(options={"task_id": "weather-001", "group_key": "replay"})
    info = {}
    for t in texts:
        _, _, term, trunc, info = env.step(t)
        if term or trunc:
            break
    else:
        raise AssertionError("episode did not end")
    return info["score"]


def test_scripted_episode_exact(tiny_lm, weather_data, weather_task_file):
    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    server = ScriptedServer(tok, PERFECT_SCRIPT)
    worker = _worker(cfg, server)
    batch = _batch(cfg, tok, n=2)
    output = _run(worker, batch)
    assert len(output) == 2

    for i in range(2):
        s = _one_sample(output, i)
        calls = [c for c in server.calls if c["request_id"] == server.calls[0]["request_id"]] if i == 0 else \
            [c for c in server.calls if c["request_id"] != server.calls[0]["request_id"]]
        assert len(calls) == 4  # four assistant messages: call, answer, call, answer
        generated = [c["token_ids"] for c in calls]

        # response_mask is 1 exactly on the tokens the server generated, in order
        policy_runs = [(a, b) for v, a, b in _segments(s["mask"]) if v == 1]
        assert [s["response"][a:b] for a, b in policy_runs] == generated
        # the first generation starts right after the prompt; every generate call saw the stream so far
        for c, (a, _b) in zip(calls, policy_runs):
            assert c["prompt_ids"] == s["prompt"] + s["response"][:a]
        # logprobs flow through on policy tokens, 0 elsewhere
        assert s["logprobs"] is not None
        assert all((lp == -0.5) == bool(m) for lp, m in zip(s["logprobs"], s["mask"]))

        # the token stream equals the tokenizer's chat-template rendering of the conversation the env saw
        messages = s["extra"]["cm2"]["messages"]
        texts = [m["content"] for m in messages if m["role"] == "assistant"]
        assert texts == PERFECT_SCRIPT
        conv = _raw_conversation(messages, texts)
        expected = tok.apply_chat_template(conv, tools=WEATHER_TOOLS, tokenize=False)
        assert expected.endswith("<|im_end|>\n")
        full_text = tok.decode(s["prompt"] + s["response"], skip_special_tokens=False)
        assert full_text == expected[: -len("\n")]
        expected_ids = tok.apply_chat_template(conv, tools=WEATHER_TOOLS, tokenize=True, return_dict=True)["input_ids"]
        assert s["prompt"] + s["response"] == list(expected_ids)[:-1]
        # the prompt is exactly the template's rendering of the env's opening messages (+ generation prompt)
        opening = tok.apply_chat_template(messages[:2], tools=WEATHER_TOOLS, add_generation_prompt=True,
                                          tokenize=True, return_dict=True)["input_ids"]
        assert s["prompt"] == list(opening)
        # observations: tool results and the second user message are in the stream with mask 0
        zero_text = "".join(tok.decode(s["response"][a:b]) for v, a, b in _segments(s["mask"]) if v == 0)
        assert '"temp_c": 21' in zero_text and "And in Fahrenheit?" in zero_text and "69.8" in zero_text

        # reward: the env's checklist score, placed on the last response token, nothing else
        assert s["rm"].sum().item() == pytest.approx(1.0)
        last = len(s["response"]) - 1
        assert s["rm"][last].item() == pytest.approx(1.0)
        assert s["extra"]["turn_scores"] == [1.0, 1.0]
        ends = s["extra"]["turn_token_ends"]
        assert len(ends) == 2 and ends[-1] == last and s["mask"][ends[0]] == 1
        assert s["extra"]["cm2"]["end_reason"] == "user_done"
        assert s["extra"]["cm2"]["verdict_counts"]["passed"] == 4
        assert s["num_turns"] == len(messages) - 1  # user/assistant/tool messages

    # both rollouts of the prompt share the group key (verl's per-prompt uid)
    keys = {output.non_tensor_batch["cm2"][i]["group_key"] for i in range(2)}
    assert len(keys) == 1 and keys == {batch.non_tensor_batch["uid"][0]}
    # the reward extra info (flat scalars, same keys per sample) reaches verl's batch for logging/filtering
    assert "cm2_score" in output.meta_info["reward_extra_keys"]
    assert list(output.non_tensor_batch["cm2_score"]) == [1.0, 1.0]
    assert list(output.non_tensor_batch["cm2_items_passed"]) == [4, 4]


def test_partial_score_and_grpo_advantage(tiny_lm, weather_data, weather_task_file):
    """Two rollouts of one prompt with different quality: the score is the env's, the advantage score-mean."""
    from verl.trainer.ppo.core_algos import compute_grpo_outcome_advantage
    from verl.trainer.ppo.reward import extract_reward
    from verl.utils.config import omega_conf_to_dataclass

    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    wrong = [PERFECT_SCRIPT[0], PERFECT_SCRIPT[1], tool_call_text("convert_temp", {"celsius": 12}), "It is cold."]

    server = ScriptedServer(tok, PERFECT_SCRIPT, wrong)
    worker = _worker(cfg, server)
    batch = _batch(cfg, tok, n=2)
    output = _run(worker, batch)
    scores = output.batch["rm_scores"].sum(-1).tolist()
    expected = sorted([_replay_score(weather_task_file, PERFECT_SCRIPT), _replay_score(weather_task_file, wrong)])
    assert sorted(scores) == pytest.approx(expected)
    assert expected[0] == pytest.approx(0.5) and expected[1] == pytest.approx(1.0)

    reward_tensor, extra = extract_reward(output)
    algo = omega_conf_to_dataclass(cfg.algorithm)
    adv, _ = compute_grpo_outcome_advantage(
        token_level_rewards=reward_tensor,
        response_mask=output.batch["response_mask"],
        index=np.array([output.non_tensor_batch["cm2"][i]["group_key"] for i in range(2)], dtype=object),
        norm_adv_by_std_in_grpo=algo.norm_adv_by_std_in_grpo,
        config=algo,
    )
    mean = sum(scores) / 2
    for i in range(2):
        m = output.batch["response_mask"][i].bool()
        assert torch.allclose(adv[i][m], torch.full_like(adv[i][m], scores[i] - mean))
        assert torch.all(adv[i][~m] == 0)
    assert "cm2_score" in extra


def test_transformers_generation_robust(tiny_lm, weather_data, weather_task_file):
    """Real sampling from the tiny LM (after a forced tool-call prefix on some turns): invariants hold."""

    model_dir, tok, model = tiny_lm
    cfg = _config(model_dir, weather_data)
    prefixes = [tool_call_text("get_weather", {"city": "Paris"}), "It is 21 C.", tool_call_text("convert_temp", {"celsius": 21}), ""]
    server = HFServer(model, tok, prefixes=prefixes, free_tokens=5, seed=1)
    worker = _worker(cfg, server)
    batch = _batch(cfg, tok, n=2)
    output = _run(worker, batch)

    for i in range(2):
        s = _one_sample(output, i)
        rid = sorted({c["request_id"] for c in server.calls})
        own = None
        for r in rid:
            calls = [c for c in server.calls if c["request_id"] == r]
            if calls[0]["prompt_ids"] == s["prompt"] and [c["token_ids"] for c in calls] == \
                    [s["response"][a:b] for v, a, b in _segments(s["mask"]) if v == 1]:
                own = calls
        assert own is not None, "policy tokens must be exactly the generated tokens"
        messages = s["extra"]["cm2"]["messages"]
        texts = [m["content"] for m in messages if m["role"] == "assistant"]
        assert texts == [tok.decode(c["token_ids"], skip_special_tokens=True) for c in own]
        conv = _raw_conversation(messages, texts)
        expected = tok.apply_chat_template(conv, tools=WEATHER_TOOLS, tokenize=False)
        assert tok.decode(s["prompt"] + s["response"], skip_special_tokens=False) == expected[:-1]
        # the env's score of these texts is the reward
        assert s["extra"]["cm2"]["stop_reason"] == "env"
        assert s["rm"].sum().item() == pytest.approx(_replay_score(weather_task_file, texts))
        # sampled tokens really came from the model (beyond the forced prefixes)
        assert any(t != p for t, p in zip(texts, prefixes))
        assert s["rm"].sum().item() == pytest.approx(float(output.non_tensor_batch["cm2_score"][i]))
        # tool observations and a user observation occurred (multi-turn with both kinds)
        roles = [m["role"] for m in messages]
        assert "tool" in roles and roles.count("user") >= 2


def test_response_budget_stops_and_scores(tiny_lm, weather_data, weather_task_file):
    """A response budget too small for the episode: the loop stops, the env scores the episode as it stands."""
    model_dir, tok, _ = tiny_lm
    # measure the stream once with room to spare, then allow only 3 tokens of the first answer
    full = _one_sample(_run(_worker(_config(model_dir, weather_data), ScriptedServer(tok, PERFECT_SCRIPT)),
                            _batch(_config(model_dir, weather_data), tok, n=1)), 0)
    first_obs_end = _segments(full["mask"])[1][2]
    budget = first_obs_end + 3
    cfg = _config(model_dir, weather_data, f"data.max_response_length={budget}")
    output = _run(_worker(cfg, ScriptedServer(tok, PERFECT_SCRIPT)), _batch(cfg, tok, n=1))
    s = _one_sample(output, 0)
    assert len(s["response"]) == budget
    assert s["response"] == full["response"][:budget]
    cm2 = s["extra"]["cm2"]
    assert cm2["stop_reason"] == "response_length"
    assert cm2["end_reason"] == "trainer_response_length"
    truncated_answer = tok.decode(s["response"][first_obs_end:])
    assert "21" not in truncated_answer
    # turn 0 judged as it stood (get_weather called: C0 = 0.6; no "21" reported), turn 1 unreached → 0.6 / 2
    assert s["rm"].sum().item() == pytest.approx(0.3)
    assert s["extra"]["turn_scores"] == [pytest.approx(0.6)]
    assert int(output.non_tensor_batch["cm2_trainer_stopped"][0]) == 1


def test_direct_run_and_v1_trainer_output_dict(tiny_lm, weather_data, weather_task_file):
    """The loop on its own (as verl's v1 TransferQueue worker calls it): ``as_dict`` carries the score as
    ``rm_scores`` on the last token and the reward extra info verl's v1 trainer reads."""
    import asyncio

    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from train.verl.agent_loop import CM2AgentLoop

    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    batch = _batch(cfg, tok, n=1)
    row = {k: v[0] for k, v in batch.non_tensor_batch.items()}
    wrong = [PERFECT_SCRIPT[0], "It is warm."]  # turn 0: C1 fails; turn 1: the server's default reply

    async def go():
        loop = CM2AgentLoop(
            trainer_config=DictConfigWrap(cfg), server_manager=ScriptedServer(tok, wrong), tokenizer=tok,
            processor=None, dataset_cls=RLHFDataset, data_config=DictConfigWrap(cfg.data), hf_model_type="qwen2",
        )
        sampling = {"temperature": 1.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True}
        row.pop("agent_name", None)
        return await loop.run(sampling, session_id=0, **row)

    out = asyncio.run(go())
    d = out.as_dict()
    # what verl's v1 worker stores per sample (AgentLoopWorkerTQ._agent_loop_postprocess) packs into a TensorDict
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    fields = []
    for o in (out, out.model_copy(update={"response_ids": out.response_ids[:-1], "response_mask": out.response_mask[:-1],
                                         "response_logprobs": out.response_logprobs[:-1]})):
        f = o.as_dict()
        f.update({k: v for k, v in row.items() if k != "raw_prompt"}, session_id=0)
        f["loss_mask"] = f["response_mask"]
        fields.append(f)
    td = list_of_dict_to_tensordict(fields)
    assert td["extra_fields"][0]["reward_extra_info"]["cm2_score"] == out.reward_score
    assert float(td["rm_scores"][0].sum()) == pytest.approx(out.reward_score)
    assert d["responses"].shape == d["response_mask"].shape == d["rm_scores"].shape
    assert d["rm_scores"][-1].item() == pytest.approx(out.reward_score)
    assert d["rm_scores"][:-1].abs().sum().item() == 0
    assert d["rollout_log_probs"].shape == d["responses"].shape
    info = d["extra_fields"]["reward_extra_info"]
    assert info["cm2_score"] == out.reward_score
    assert all(isinstance(v, (int, float)) for v in info.values())
    # turn 0: 0.6 (C1 failed); turn 1: "Nothing more to do." → 0 → trajectory 0.3
    assert out.reward_score == pytest.approx(0.3)
    assert d["extra_fields"]["turn_scores"] == [pytest.approx(0.6), 0.0]
    assert d["extra_fields"]["cm2"]["turn_verdict_counts"][0] == {"passed": 1, "failed": 1, "unjudged": 0, "error": 0}


def test_history_rewriting_template_caveat(tiny_lm, weather_data):
    """Documented caveat: with a template that drops earlier turns' <think> (Qwen3), the rollout's token
    stream keeps the thinking the model generated and saw, so it differs from the template's rendering of the
    finished conversation; the observation deltas are unaffected (rendered in a synthetic context)."""
    import asyncio
    import copy

    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from train_fixtures import QWEN_STYLE_TEMPLATE
    from train.verl.agent_loop import CM2AgentLoop

    model_dir, tok, _ = tiny_lm
    qwen3_like = copy.deepcopy(tok)
    strip = (
        "{%- set ns = namespace(last_user=-1) %}{%- for m in messages %}{%- if m.role == 'user' %}"
        "{%- set ns.last_user = loop.index0 %}{%- endif %}{%- endfor %}"
    )
    template = strip + QWEN_STYLE_TEMPLATE.replace(
        "'\\n' + (message.content or '') + '<|im_end|>'",
        "'\\n' + ((message.content or '').split('</think>')[-1].lstrip('\\n') "
        "if (message.role == 'assistant' and loop.index0 < ns.last_user) else (message.content or '')) + '<|im_end|>'",
    ).replace(
        "{%- if message.content %}\n            {{- '\\n' + message.content }}",
        "{%- if message.content %}\n            {{- '\\n' + (message.content.split('</think>')[-1].lstrip('\\n') "
        "if loop.index0 < ns.last_user else message.content) }}",
    )
    assert template != strip + QWEN_STYLE_TEMPLATE
    qwen3_like.chat_template = template

    cfg = _config(model_dir, weather_data)
    batch = _batch(cfg, tok, n=1)
    row = {k: v[0] for k, v in batch.non_tensor_batch.items()}
    row.pop("agent_name", None)

    async def go():
        loop = CM2AgentLoop(
            trainer_config=DictConfigWrap(cfg), server_manager=ScriptedServer(qwen3_like, PERFECT_SCRIPT),
            tokenizer=qwen3_like, processor=None, dataset_cls=RLHFDataset, data_config=DictConfigWrap(cfg.data),
            hf_model_type="qwen3",
        )
        return await loop.run({"temperature": 1.0, "logprobs": False}, **row)

    out = asyncio.run(go())
    stream = qwen3_like.decode(out.prompt_ids + out.response_ids, skip_special_tokens=False)
    conv = _raw_conversation(out.extra_fields["cm2"]["messages"], PERFECT_SCRIPT)
    history_rewritten = qwen3_like.apply_chat_template(conv, tools=WEATHER_TOOLS, tokenize=False)
    verbatim = tok.apply_chat_template(conv, tools=WEATHER_TOOLS, tokenize=False)
    assert "I should look it up." in stream and "I should look it up." not in history_rewritten
    assert stream == verbatim[:-1]  # the stream is the verbatim (history-preserving) rendering
    assert out.reward_score == pytest.approx(1.0)


def test_make_env_builds_a_one_task_env_from_a_cached_source(weather_task_file):
    from train.verl.agent_loop import make_env, tasks_by_id

    tasks_by_id.cache_clear()
    env = make_env("cm2/ToolTask-v0", "weather-001", tasks=str(weather_task_file))
    assert [t.id for t in env.tasks] == ["weather-001"]
    make_env("cm2/ToolTask-v0", "weather-001", tasks=str(weather_task_file))
    assert tasks_by_id.cache_info().hits >= 1 and tasks_by_id.cache_info().misses == 1
    obs, info = env.reset(options={"task_id": "weather-001"})
    assert info["tools"] == WEATHER_TOOLS
    # an unknown task id falls back to the full source (the env reports the unknown id itself)
    env2 = make_env("cm2/ToolTask-v0", "nope", tasks=str(weather_task_file))
    with pytest.raises(KeyError):
        env2.reset(options={"task_id": "nope"})


def _reference_texts(task) -> list[str]:
    """The task's reference assistant messages as raw hermes text (what a model would generate)."""
    texts = []
    for m in task.reference or []:
        if m.role != "assistant":
            continue
        parts = [m.content] if m.content else []
        for call in m.tool_calls or []:
            fn = call["function"]
            args = fn["arguments"]
            args = json.loads(args) if isinstance(args, str) else args
            parts.append("<tool_call>\n" + json.dumps({"name": fn["name"], "arguments": args}) + "\n</tool_call>")
        texts.append("\n".join(parts))
    return texts


def test_starter_suite_reference_through_the_loop(tiny_lm, tmp_path):
    """Every starter task's reference, generated token by token through verl's worker + our loop, gets the
    score the env gives the same texts directly; the stream matches the chat template for every task."""
    import cm2_env
    from cm2_env.data.to_verl import to_verl
    from cm2_env.tasks import load_suite

    try:
        tasks = load_suite("starter")
    except Exception as e:
        pytest.skip(f"starter suite unavailable: {e}")
    model_dir, tok, _ = tiny_lm
    to_verl("starter", tmp_path / "verl", val_fraction=0.0, seed=0)
    cfg = _config(model_dir, tmp_path / "verl", "data.max_prompt_length=4096", "data.max_response_length=16384")
    by_first_user = {t.turns[0].user: t for t in tasks}

    class ReferenceServer(ScriptedServer):
        async def generate(self, request_id, *, prompt_ids, sampling_params, **kw):
            if request_id not in self._script_of:
                text = self.tokenizer.decode(prompt_ids)
                task = next(t for u, t in by_first_user.items() if u and u in text)
                self._script_of[request_id] = _reference_texts(task)
            return await super().generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params, **kw)

    server = ReferenceServer(tok, ["unused"])
    output = _run(_worker(cfg, server), _batch(cfg, tok, n=1))
    assert len(output) == len(tasks)
    for i in range(len(output)):
        s = _one_sample(output, i)
        cm2 = s["extra"]["cm2"]
        task = next(t for t in tasks if t.id == cm2["task_id"])
        texts = [m["content"] for m in cm2["messages"] if m["role"] == "assistant"]
        env = cm2_env.make("cm2/ToolTask-v0", tasks="starter")
        env.reset(options={"task_id": task.id})
        info = {}
        for t in texts:
            _, _, term, trunc, info = env.step(t)
            if term or trunc:
                break
        assert cm2["stop_reason"] == "env", task.id
        assert s["rm"].sum().item() == pytest.approx(info["score"] or 0.0), task.id
        conv = _raw_conversation(cm2["messages"], texts)
        expected = tok.apply_chat_template(conv, tools=task.tools, tokenize=False)
        assert tok.decode(s["prompt"] + s["response"], skip_special_tokens=False) == expected[:-1], task.id
    mean = float(output.batch["rm_scores"].sum(-1).mean())
    assert mean > 0.9  # the references pass their own checklists


def test_legacy_worker_first_generation_aborted(tiny_lm, weather_data, weather_task_file):
    """verl's LLMServerClient in front of a server that aborts each episode's first generation (3 partial tokens):
    the partial tokens are dropped (never played in the env), the episode is scored as it stands (0), flagged, and
    the sample keeps one placeholder response token (mask 0) for the score; the server's weight versions reach
    verl's batch as the min/max_global_steps columns."""
    from fake_llm_servers import InProcessLLMServerClient, VersionedServer

    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    server = VersionedServer(ScriptedServer(tok, PERFECT_SCRIPT), steps=[4], abort={0: 0, 1: 0}, abort_tokens=3)
    output = _run(_worker(cfg, InProcessLLMServerClient(cfg, server)), _batch(cfg, tok, n=2))
    assert [c["aborted"] for c in server.calls] == [True, True] and all(len(c["token_ids"]) == 3 for c in server.calls)
    nt = output.non_tensor_batch
    assert list(nt["cm2_aborted"]) == [1, 1] and list(nt["cm2_score"]) == [0.0, 0.0]
    assert list(nt["min_global_steps"]) == [4, 4] and list(nt["max_global_steps"]) == [4, 4]
    for i in range(2):
        s = _one_sample(output, i)
        assert s["mask"] == [0] and len(s["response"]) == 1
        assert s["rm"].abs().sum().item() == 0
        cm2 = s["extra"]["cm2"]
        assert cm2["stop_reason"] == "aborted" and cm2["end_reason"] == "trainer_aborted"
        assert not [m for m in cm2["messages"] if m["role"] == "assistant"]


def test_priority_and_deterministic_request_id(tiny_lm, weather_data):
    """``run(sampling_params, priority=...)`` as verl calls it: the priority (np.int64 from the batch) reaches the
    server as an int, and under rollout.full_determinism the request id is verl's ``det-<priority>``; a server
    whose generate takes no priority is called without it."""
    import asyncio

    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset

    from train.verl.agent_loop import CM2AgentLoop

    model_dir, tok, _ = tiny_lm

    class NoPriorityServer(ScriptedServer):
        async def generate(self, request_id, *, prompt_ids, sampling_params):
            return await super().generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params)

    def play(server, *overrides):
        cfg = _config(model_dir, weather_data, *overrides)
        row = {k: v[0] for k, v in _batch(cfg, tok, n=1).non_tensor_batch.items()}
        row.pop("agent_name", None)

        async def go():
            loop = CM2AgentLoop(
                trainer_config=DictConfigWrap(cfg), server_manager=server, tokenizer=tok, processor=None,
                dataset_cls=RLHFDataset, data_config=DictConfigWrap(cfg.data), hf_model_type="qwen2",
            )
            return await loop.run({"temperature": 1.0, "logprobs": True}, priority=np.int64(7), **row)

        return asyncio.run(go())

    det = ScriptedServer(tok, PERFECT_SCRIPT)
    out = play(det, "actor_rollout_ref.rollout.full_determinism=true")
    assert out.reward_score == pytest.approx(1.0)
    assert {c["request_id"] for c in det.calls} == {"det-7"}
    assert all(type(c["kwargs"]["priority"]) is int and c["kwargs"]["priority"] == 7 for c in det.calls)

    plain = NoPriorityServer(tok, PERFECT_SCRIPT)
    out = play(plain)
    assert out.reward_score == pytest.approx(1.0)
    ids = {c["request_id"] for c in plain.calls}
    assert len(ids) == 1 and not next(iter(ids)).startswith("det-")


def test_credit_record_lines_up_with_the_token_stream(tiny_lm, weather_data, weather_task_file):
    """extra_fields["cm2_credit"]: one segment per generated message on its policy tokens, the turn ends, and
    each judged turn's verdicts — what the turn/step advantages of train.verl.trainer read."""
    from train.verl.advantages import RolloutCredit, compute

    model_dir, tok, _ = tiny_lm
    cfg = _config(model_dir, weather_data)
    wrong = [PERFECT_SCRIPT[0], PERFECT_SCRIPT[1], tool_call_text("convert_temp", {"celsius": 12}), "It is cold."]
    output = _run(_worker(cfg, ScriptedServer(tok, PERFECT_SCRIPT, wrong)), _batch(cfg, tok, n=2))
    rollouts, masks = [], []
    for i in range(2):
        s = _one_sample(output, i)
        credit = output.non_tensor_batch["cm2_credit"][i]
        policy_runs = [(a, b) for v, a, b in _segments(s["mask"]) if v == 1]
        assert [(a, b) for _t, _m, a, b in credit["segments"]] == policy_runs
        assert [(t, m) for t, m, _a, _b in credit["segments"]] == [(0, 1), (0, 3), (1, 1), (1, 3)]
        assert credit["turn_token_ends"] == s["extra"]["turn_token_ends"]
        assert [len(turn) for turn in credit["items"]] == [sum(t.values()) for t in s["extra"]["cm2"]["turn_verdict_counts"]]
        statuses = {it["status"] for turn in credit["items"] for it in turn}
        assert statuses <= {"passed", "failed", "unjudged", "error"}
        rollouts.append(RolloutCredit.from_record("g", float(s["rm"].sum()), credit))
        masks.append(output.batch["response_mask"][i][output.batch["attention_mask"][i][-output.batch[
            "response_mask"].shape[1]:].bool()].numpy())
    n = max(len(m) for m in masks)
    mask = np.stack([np.pad(m, (0, n - len(m))) for m in masks]).astype(float)
    adv = compute("turn", rollouts, mask, min_group=2)
    scores = [r.turn_scores for r in rollouts]
    assert scores[0][0] == scores[1][0]  # the same first turn
    first_turn = slice(rollouts[0].segments[0].start, rollouts[0].segments[1].end)
    assert np.allclose(adv[0, first_turn], 0.0)
    a, b = rollouts[0].segments[2].start, rollouts[0].segments[2].end
    assert np.allclose(adv[0, a:b], (scores[0][1] - scores[1][1]) / 2) and scores[0][1] != scores[1][1]
