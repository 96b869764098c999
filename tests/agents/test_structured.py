"""structured_call: native structured output, JSON from text, one repair turn, typed errors.

Deterministic: the models are the scripted and offline models and LangChain's
fake list model (which cannot bind tools, so the JSON-in-the-prompt path runs).
"""

from __future__ import annotations

import asyncio

import pytest
from langchain_core.language_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from pydantic import BaseModel, Field

from mnemos.agents import (
    OfflineChatModel,
    ScriptedChatModel,
    astructured_call,
    internal_config,
    structured_call,
)
from mnemos.agents.structured import finish_reason
from mnemos.exceptions import ModelOutputError, UsageError


class Fact(BaseModel):
    attribute: str
    value: str


class Facts(BaseModel):
    facts: list[Fact] = Field(default_factory=list)


def test_native_structured_output_is_used() -> None:
    model = ScriptedChatModel([AIMessage(content="", tool_calls=[
        {"name": "Facts", "args": {"facts": [{"attribute": "city", "value": "Berlin"}]}, "id": "c1"}])])
    assert structured_call(model, Facts, "I live in Berlin").facts == [Fact(attribute="city", value="Berlin")]
    assert model.bound_tools == [["Facts"]]


def test_json_in_the_text_is_read_when_the_model_answers_in_prose() -> None:
    model = ScriptedChatModel(['Sure! ```json\n{"facts": [{"attribute": "pet", "value": "cat"}]}\n```'])
    assert structured_call(model, Facts, "I have a cat").facts[0].value == "cat"


def test_one_repair_turn_gets_the_validation_error() -> None:
    model = ScriptedChatModel(['{"facts": [{"attribute": "pet"}]}', '{"facts": [{"attribute": "pet", "value": "dog"}]}'])
    assert structured_call(model, Facts, "I have a dog").facts[0].value == "dog"
    repair = model.prompts[1]
    assert isinstance(repair[-2], AIMessage) and "attribute" in repair[-2].text
    assert "not valid" in repair[-1].text and "value" in repair[-1].text and '"properties"' in repair[-1].text


def test_still_invalid_after_the_repair_is_a_typed_error_with_the_raw_reply() -> None:
    model = ScriptedChatModel(["no idea", "still no idea"])
    with pytest.raises(ModelOutputError, match="after one repair attempt") as info:
        structured_call(model, Facts, "hello")
    assert info.value.raw == "still no idea"
    no_repair = ScriptedChatModel(["no idea"])
    with pytest.raises(ModelOutputError):
        structured_call(no_repair, Facts, "hello", repair=False)
    assert len(no_repair.prompts) == 1


def test_an_object_naming_none_of_the_fields_is_refused_not_taken_as_empty() -> None:
    model = ScriptedChatModel(['{"fact": [{"attribute": "a", "value": "b"}]}', '{"other": 1}'])
    with pytest.raises(ModelOutputError, match="none of the fields"):
        structured_call(model, Facts, "x")


def test_a_reply_cut_off_by_the_token_limit_is_repaired_or_refused() -> None:
    cut = AIMessage(content='{"facts": [{"attribute": "city", "value": "Ber',
                    response_metadata={"finish_reason": "length"})
    assert finish_reason(cut) == "length"
    assert finish_reason(AIMessage(content="", response_metadata={"done_reason": "stop"})) == "stop"
    model = ScriptedChatModel([cut, '{"facts": []}'])
    assert structured_call(model, Facts, "x").facts == []
    assert "cut off at the token limit" in model.prompts[1][-1].text
    # even a complete-looking prefix is not trusted when the reply was cut off
    whole_but_cut = AIMessage(content='{"facts": []} and then', response_metadata={"finish_reason": "length"})
    with pytest.raises(ModelOutputError) as info:
        structured_call(ScriptedChatModel([whole_but_cut, whole_but_cut]), Facts, "x")
    assert info.value.finish_reason == "length"


def test_a_model_without_tool_calling_is_asked_for_json_in_the_prompt() -> None:
    model = FakeListChatModel(responses=['{"facts": [{"attribute": "a", "value": "b"}]}'])
    assert structured_call(model, Facts, [HumanMessage("x")]).facts[0].attribute == "a"


def test_the_offline_model_fills_the_schema() -> None:
    result = structured_call(OfflineChatModel(), Fact, "attribute: city, value: Paris")
    assert result == Fact(attribute="city", value="Paris")


def test_async_twin() -> None:
    model = ScriptedChatModel(["nope", '{"attribute": "a", "value": "b"}'])
    assert asyncio.run(astructured_call(model, Fact, "x")) == Fact(attribute="a", value="b")
    with pytest.raises(ModelOutputError):
        asyncio.run(astructured_call(ScriptedChatModel(["no", "no"]), Fact, "x"))


def test_bad_arguments_are_usage_errors() -> None:
    with pytest.raises(UsageError):
        structured_call("offline", Fact, "x")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        structured_call(OfflineChatModel(), dict, "x")  # type: ignore[arg-type]
    with pytest.raises(UsageError):
        structured_call(OfflineChatModel(), Fact, [])


def test_internal_config_adds_the_nostream_tag_and_keeps_the_rest() -> None:
    config = internal_config({"tags": ["mine"], "configurable": {"thread_id": "t"}})
    assert config["tags"] == ["mine", "nostream"] and config["configurable"] == {"thread_id": "t"}
    assert internal_config(None)["tags"] == ["nostream"]
    assert internal_config(config)["tags"] == ["mine", "nostream"]
