import json
import socket
import time

import pytest

from cm2_env.llm import LLMClient, LLMError
from cm2_env.llm.presets import list_presets, load_preset
from cm2_test_servers.scripted import Delay, Trickle


def test_presets_parse(monkeypatch):
    assert {"vllm", "sglang", "openai", "local"} <= set(list_presets())
    for name in ("vllm", "sglang", "local"):
        cfg = load_preset(name, role="judge")
        assert cfg.role == "judge" and cfg.base_url.startswith("http")
        LLMClient(cfg)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cfg = load_preset("openai", model="gpt-4.1", role="simulator")
    assert cfg.model == "gpt-4.1" and cfg.api_key_env == "OPENAI_API_KEY" and cfg.price.input_per_mtok > 0
    LLMClient(cfg)
    with pytest.raises(FileNotFoundError):
        load_preset("nope")


def test_build_client_from_preset_names():
    from cm2_env.llm import build_client

    c = build_client("vllm", role="judge")
    assert c.role == "judge" and c.config.base_url == "http://localhost:8000/v1"
    c2 = build_client({"preset": "local", "base_url": "http://127.0.0.1:9999/v1", "model": "x"}, role="user")
    assert c2.role == "user" and c2.config.base_url.endswith(":9999/v1") and c2.config.max_concurrency == 2
    from cm2_env.components import JUDGES

    j = JUDGES.build({"name": "llm", "llm": "sglang"})
    assert j.client.config.base_url == "http://localhost:30000/v1"


# ---------------------------------------------------------------- the local preset's worst case

LOCAL_WORST_CASE_BOUND_S = 150.0
"""What conf/llm/local.yaml promises: one request to a hung local server gives up within 2.5 minutes."""


def SCRIPTED_HANDLER(body):
    return json.dumps({"answer": True})


def test_local_preset_worst_case_is_a_couple_of_minutes():
    cfg = load_preset("local")
    # timeout x (retries + 1) + every backoff at its largest (jitter 1.5x, or Retry-After up to its cap)
    backoffs = sum(max(1.5 * min(cfg.backoff_max, cfg.backoff_base * 2 ** k), cfg.max_retry_after)
                   for k in range(cfg.retries))
    worst = cfg.timeout * (cfg.retries + 1) + backoffs
    assert worst == pytest.approx(cfg.worst_case_seconds())
    assert worst <= LOCAL_WORST_CASE_BOUND_S, f"local preset can stall a call {worst:.0f}s"
    assert cfg.connect_timeout is not None and cfg.connect_timeout <= cfg.timeout / 10  # unreachable: fail fast
    assert cfg.retries >= 1  # still one retry for a blip
    assert LLMClient(cfg).config.connect_timeout == cfg.connect_timeout


async def test_hung_server_gives_up_within_the_worst_case(scripted_server):
    """The preset's policy with its times scaled down, against a server that never answers in time."""
    cfg = load_preset("local", base_url=scripted_server.url, model="m", timeout=0.4, backoff_base=0.05,
                      backoff_max=0.1, max_retry_after=0.2)
    scripted_server.push(*[Delay(1.5)] * (cfg.retries + 1))
    t0 = time.monotonic()
    with pytest.raises(LLMError) as ei:
        await LLMClient(cfg, role="user").chat([{"role": "user", "content": "hi"}])
    elapsed = time.monotonic() - t0
    assert ei.value.kind == "timeout" and ei.value.attempts == cfg.retries + 1
    assert elapsed <= cfg.worst_case_seconds() + 0.5


async def test_timeout_caps_a_trickling_reply(scripted_server):
    """`timeout` bounds the whole attempt: a server dribbling bytes (never idle for a per-read timeout) is cut
    off at `timeout`, so the worst case above holds."""
    scripted_server.push(Trickle(2.0, interval=0.05))
    cfg = load_preset("local", base_url=scripted_server.url, model="m", timeout=0.5, retries=0)
    t0 = time.monotonic()
    with pytest.raises(LLMError) as ei:
        await LLMClient(cfg, role="user").chat([{"role": "user", "content": "hi"}])
    assert ei.value.kind == "timeout" and time.monotonic() - t0 < 1.5
    scripted_server.push(Trickle(0.2, interval=0.05))  # a trickle within the cap is a normal reply
    r = await LLMClient(cfg, role="user").chat([{"role": "user", "content": "hi"}])
    assert json.loads(r.text) == {"answer": True}


async def test_connect_timeout_is_used():
    """A host that takes the SYN but never completes the connection (a listen queue that is full) fails
    after connect_timeout, not after the much longer reply timeout."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(0)
    port = srv.getsockname()[1]
    fill = []
    try:
        for _ in range(3):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", port))
            fill.append(c)
        time.sleep(0.1)
        probe = socket.socket()
        probe.settimeout(0.3)
        try:
            probe.connect(("127.0.0.1", port))
            pytest.skip("this kernel completes connections beyond a full listen queue")
        except (TimeoutError, socket.timeout):
            pass
        finally:
            probe.close()
        cfg = load_preset("local", base_url=f"http://127.0.0.1:{port}/v1", model="m", connect_timeout=0.3,
                          timeout=10, retries=0)
        c = LLMClient(cfg, role="user")
        t0 = time.monotonic()
        with pytest.raises(LLMError) as ei:
            await c.chat([{"role": "user", "content": "hi"}])
        assert ei.value.kind in ("timeout", "connection") and time.monotonic() - t0 < 3.0
        await c.aclose()
    finally:
        for c in fill:
            c.close()
        srv.close()
