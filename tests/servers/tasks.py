"""Small tasks for LLM-role tests (built in code, independent of the starter suite)."""

from __future__ import annotations

import json

from cm2_env.tasks.models import Task

WEATHER_TOOLS = [
    {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather of a city.",
        "parameters": {"type": "object", "properties": {
            "city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"], "default": "c"}},
            "required": ["city"]}}},
    {"type": "function", "function": {
        "name": "book_table", "description": "Book a restaurant table.",
        "parameters": {"type": "object", "properties": {
            "restaurant": {"type": "string"}, "people": {"type": "integer"}},
            "required": ["restaurant", "people"]}}},
]


def weather_task(task_id: str = "weather-1") -> Task:
    """Two turns; turn 0 has one programmatic item and two LLM-judged items, turn 1 one LLM item."""
    return Task.model_validate({
        "id": task_id, "domain": "travel", "system_prompt": "You are a helpful assistant.",
        "tools": WEATHER_TOOLS,
        "user": {"persona": "A busy traveller who writes short messages.",
                 "goal": "Know the weather in Paris, then book a table for 2 at Chez Nous.",
                 "hidden_info": "Prefers Celsius.", "max_turns": 3},
        "turns": [
            {"user": "What's the weather in Paris?", "checklist": [
                {"id": "C0", "question": "Did the assistant call get_weather for Paris?", "weight": 0.4,
                 "check": {"type": "tool_called", "name": "get_weather", "args": {"city": {"equals": "Paris"}}}},
                {"id": "C1", "question": "Does the reply state the temperature from the tool result?",
                 "pass_condition": "The reply mentions 18 degrees.", "focus_on": "assistant.content.user_visible_reply",
                 "weight": 0.3, "failure_examples": ["Says it is sunny without a temperature."],
                 "evidence": [{"turn": 0, "step": 3, "from": "assistant.content.user_visible_reply",
                               "snippet": "It is 18°C and sunny in Paris."}]},
                {"id": "C2", "question": "Is the reply polite?", "weight": 0.3,
                 "focus_on": "assistant.content.user_visible_reply", "dependence": ["C1"]},
            ]},
            {"user": "Book a table for 2 at Chez Nous.", "checklist": [
                {"id": "C0", "question": "Did the assistant book a table for 2 at Chez Nous?", "weight": 1.0,
                 "focus_on": "assistant.tool_calls", "required_for_next_turn": True},
            ]},
        ],
        "reference": [
            {"role": "user", "content": "What's the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c1", "type": "function", "function": {
                "name": "get_weather", "arguments": json.dumps({"city": "Paris"})}}]},
            {"role": "tool", "tool_call_id": "c1", "content": json.dumps({"temp_c": 18, "sky": "sunny"})},
            {"role": "assistant", "content": "It is 18°C and sunny in Paris."},
            {"role": "user", "content": "Book a table for 2 at Chez Nous."},
            {"role": "assistant", "content": "", "tool_calls": [{"id": "c2", "type": "function", "function": {
                "name": "book_table", "arguments": json.dumps({"restaurant": "Chez Nous", "people": 2})}}]},
            {"role": "tool", "tool_call_id": "c2", "content": json.dumps({"booking_id": "B-1", "status": "confirmed"})},
            {"role": "assistant", "content": "Booked: table for 2 at Chez Nous (B-1)."},
        ],
    })
