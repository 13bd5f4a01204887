"""Assistant output parsing: hermes <tool_call> blocks, <think> handling, JSON repair, OpenAI dicts."""

from __future__ import annotations

import json

import pytest

from cm2_env.parsing import PARSERS, parse_action, parse_message, parse_text, repair_json, strip_think, think_text


def _names(parsed):
    return [c.name for c in parsed.tool_calls]


# ------------------------------------------------------------------------------------------- hermes text


def test_several_calls_per_message_with_whitespace_and_string_arguments():
    text = (
        "Let me check both.\n"
        '<tool_call>\n  {"name": "get_weather", "arguments": {"city": "Paris", "days": 3}}  \n</tool_call>\n'
        '<tool_call>{"name":"get_time","arguments":"{\\"tz\\": \\"CET\\"}"}</tool_call>'
        "\n\n<tool_call>\t{ \"name\" : \"noop\" }\t</tool_call>"
    )
    p = parse_text(text)
    assert _names(p) == ["get_weather", "get_time", "noop"]
    assert p.tool_calls[0].arguments == {"city": "Paris", "days": 3}
    assert p.tool_calls[1].arguments == {"tz": "CET"}  # arguments given as a JSON string
    assert p.tool_calls[2].arguments == {}  # no arguments → empty object
    assert all(c.parse_error is None for c in p.tool_calls)
    assert len({c.id for c in p.tool_calls}) == 3  # distinct ids
    # the executed blocks are removed from the recorded content, the prose stays
    assert "<tool_call>" not in p.content
    assert p.content == "Let me check both."
    assert p.raw == text


def test_ids_use_prefix_and_message_round_trips_to_openai():
    p = parse_text('<tool_call>{"name": "f", "arguments": {"a": 1}}</tool_call>', id_prefix="call_2_5")
    assert p.tool_calls[0].id == "call_2_5_0"
    msg = p.to_message()
    assert msg["role"] == "assistant"
    tc = msg["tool_calls"][0]
    assert tc["id"] == "call_2_5_0" and tc["type"] == "function"
    assert tc["function"]["name"] == "f"
    assert json.loads(tc["function"]["arguments"]) == {"a": 1}


def test_function_wrapper_and_parameters_key_accepted():
    p = parse_text('<tool_call>{"function": {"name": "f", "parameters": {"x": "y"}}}</tool_call>')
    assert _names(p) == ["f"]
    assert p.tool_calls[0].arguments == {"x": "y"}


def test_calls_inside_think_are_not_executed():
    text = (
        '<think>I could call <tool_call>{"name": "delete_all", "arguments": {}}</tool_call> but no.</think>'
        'Sure. <tool_call>{"name": "lookup", "arguments": {"q": "x"}}</tool_call>'
    )
    p = parse_text(text)
    assert _names(p) == ["lookup"]
    # reasoning (with the unexecuted call) is kept verbatim in the content
    assert "delete_all" in p.content and "<think>" in p.content
    assert "lookup" not in p.content


def test_only_think_calls_means_no_calls_and_content_unchanged():
    text = '<think><tool_call>{"name": "f", "arguments": {}}</tool_call></think>The answer is 4.'
    p = parse_text(text)
    assert p.tool_calls == []
    assert p.content == text
    assert "tool_calls" not in p.to_message()


def test_unterminated_think_swallows_later_calls():
    # an unclosed <think> runs to the end: everything after it is reasoning
    p = parse_text('<think>plan: <tool_call>{"name": "f", "arguments": {}}</tool_call>')
    assert p.tool_calls == []


def test_unterminated_tool_call_block_still_parsed():
    p = parse_text('ok <tool_call>{"name": "f", "arguments": {"a": 1}}')
    assert _names(p) == ["f"] and p.tool_calls[0].arguments == {"a": 1}


def test_plain_text_has_no_calls():
    p = parse_text("  Just an answer.  ")
    assert p.tool_calls == [] and p.content == "Just an answer."


# ------------------------------------------------------------------------------------------- repair


@pytest.mark.parametrize(
    "body, expected",
    [
        ('{"name": "f", "arguments": {"a": 1,}}', {"a": 1}),  # trailing comma in object
        ('{"name": "f", "arguments": {"a": [1, 2,]},}', {"a": [1, 2]}),  # trailing commas, list + outer
        ('{"name": "f", "arguments": {"a": 1}', {"a": 1}),  # missing closing brace
        ('{"name": "f", "arguments": {"a": {"b": [1, 2', {"a": {"b": [1, 2]}}),  # several unclosed
        ('```json\n{"name": "f", "arguments": {"a": 1}}\n```', {"a": 1}),  # code fence
        ('```\n{"name": "f", "arguments": {"a": "x,}"}}\n```', {"a": "x,}"}),  # fence, brace inside a string
    ],
)
def test_json_repair_in_tool_calls(body, expected):
    p = parse_text(f"<tool_call>{body}</tool_call>")
    assert len(p.tool_calls) == 1
    call = p.tool_calls[0]
    assert call.parse_error is None, call.parse_error
    assert call.name == "f" and call.arguments == expected


def test_repair_json_closes_open_string():
    assert repair_json('{"a": "unterminated') == {"a": "unterminated"}


def test_repair_json_gives_up_on_garbage():
    with pytest.raises(ValueError):
        repair_json("this is {not json")


@pytest.mark.parametrize(
    "body, name, error_part",
    [
        ("not json at all", "", "malformed tool call JSON"),
        ('{"name": "f", "arguments": {"a": </tool_call>', "f", "malformed tool call JSON"),
        ('["f", {"a": 1}]', "", "JSON object"),
        ('{"arguments": {"a": 1}}', "", "no 'name'"),
        ('{"name": "f", "arguments": "{not: json"}', "f", "arguments are not valid JSON"),
        ('{"name": "f", "arguments": [1, 2]}', "f", "arguments must be a JSON object"),
    ],
)
def test_malformed_call_becomes_toolcall_with_parse_error(body, name, error_part):
    p = parse_text(f"<tool_call>{body}</tool_call>")
    assert len(p.tool_calls) == 1
    call = p.tool_calls[0]
    assert call.arguments is None
    assert call.name == name
    assert call.parse_error and error_part in call.parse_error
    # still serialisable as an OpenAI message (the env records it)
    assert p.to_message()["tool_calls"][0]["function"]["name"] == name


def test_malformed_and_good_calls_mixed():
    p = parse_text('<tool_call>{"name": "a", "arguments": {}}</tool_call><tool_call>{{{</tool_call>'
                   '<tool_call>{"name": "b", "arguments": {"x": 1}}</tool_call>')
    assert _names(p) == ["a", "", "b"]
    assert [c.parse_error is None for c in p.tool_calls] == [True, False, True]


# ------------------------------------------------------------------------------------------- OpenAI dicts


def test_openai_dict_action_with_string_and_object_arguments():
    action = {
        "content": "calling",
        "tool_calls": [
            {"id": "abc", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            {"type": "function", "function": {"name": "g", "arguments": {"b": [1]}}},
        ],
    }
    p = parse_action(action)
    assert p.content == "calling"
    assert _names(p) == ["f", "g"]
    assert p.tool_calls[0].id == "abc"  # the model's id is kept
    assert p.tool_calls[1].id.startswith("call")  # generated when absent
    assert p.tool_calls[0].arguments == {"a": 1} and p.tool_calls[1].arguments == {"b": [1]}


def test_openai_dict_bad_entries_become_parse_errors():
    p = parse_message({"content": None, "tool_calls": [
        "junk", {"function": {"name": "g", "arguments": "{bad"}}, {"function": {"arguments": "{}"}}]})
    assert p.content == ""
    assert len(p.tool_calls) == 3
    assert all(c.parse_error for c in p.tool_calls)
    assert p.tool_calls[1].name == "g"


def test_openai_dict_without_tool_calls_falls_back_to_text_parsing():
    p = parse_action({"role": "assistant", "content": '<tool_call>{"name": "f", "arguments": {}}</tool_call>'})
    assert _names(p) == ["f"]


def test_openai_dict_plain_reply():
    p = parse_action({"role": "assistant", "content": "Done!"})
    assert p.tool_calls == [] and p.content == "Done!"


def test_non_string_actions_are_treated_as_text():
    assert parse_action(b'<tool_call>{"name": "f", "arguments": {}}</tool_call>').tool_calls[0].name == "f"
    assert parse_action(12345).content == "12345"
    assert parse_action(None).tool_calls == []
    assert PARSERS["hermes"] is parse_action


# ------------------------------------------------------------------------------------------- think helpers


@pytest.mark.parametrize(
    "text, visible",
    [
        ("<think>secret</think> Hello there", "Hello there"),
        ("<think>a</think>one<think>b</think>two", "onetwo"),
        ("reasoning prefilled by template</think>The answer", "The answer"),
        ("<think>never closed", ""),
        ("no thinking", "no thinking"),
        (None, ""),
        ("", ""),
    ],
)
def test_strip_think(text, visible):
    assert strip_think(text) == visible


def test_think_text():
    assert "secret" in think_text("<think>secret</think>visible")
    assert "visible" not in think_text("<think>secret</think>visible")
    assert think_text(None) == ""


def test_calls_in_prefilled_think_are_not_executed():
    # templates that pre-fill "<think>" in the prompt: the model's text starts inside the reasoning and the
    # first "</think>" closes it (strip_think already treats such text as reasoning)
    text = ('I could <tool_call>{"name": "delete_all", "arguments": {}}</tool_call> but no.</think>'
            'Sure. <tool_call>{"name": "lookup", "arguments": {"q": "x"}}</tool_call>')
    p = parse_text(text)
    assert _names(p) == ["lookup"]
    assert "delete_all" in p.content  # kept as reasoning, not executed
    assert strip_think(p.content) == "Sure."
