"""stage: options parsed once, CLI flags generated from the options model, the registry and `cm2 data`."""

from __future__ import annotations

import argparse

import pytest

from cm2_env.data.io import DataError
from cm2_env.data.stage import STAGES, _coerce, get_stage, stage_modules

RULE_STAGES = ("convert", "filter", "split", "select", "stats", "to-tasks")


def test_rule_stages_registered_and_importable():
    mods = stage_modules()
    for name in RULE_STAGES:
        assert name in mods
        spec = get_stage(name)
        assert spec.name == name
    assert get_stage("stats").chain is False and get_stage("filter").chain is True
    assert set(RULE_STAGES) <= set(STAGES.names())


def test_unknown_option_is_an_error():
    with pytest.raises(DataError, match="bad options"):
        get_stage("filter").parse_options({"think_tag": False})


def test_generated_flags():
    p = argparse.ArgumentParser()
    get_stage("filter").add_parser(p)
    args = p.parse_args(["in.jsonl", "--out", "o.jsonl", "--no-think-tags", "--argument-check", "names"])
    assert args.think_tags is False and args.argument_check == "names" and not hasattr(args, "role_order")
    help_text = p.format_help()
    assert "--duplicate-tools-by-schema" in help_text and "(default: False)" in help_text


def test_coerce():
    assert _coerce("3") == 3 and _coerce("0.5") == 0.5 and _coerce("a,b") == ["a", "b"]
    assert _coerce('{"a": 1}') == {"a": 1} and _coerce("names") == "names"


def test_cm2_data_help_lists_stages(capsys):
    from cm2_env.cli import main

    with pytest.raises(SystemExit):
        main(["data", "--help"])
    out = capsys.readouterr().out
    for name in (*RULE_STAGES, "run", "to-verl"):
        assert name in out
