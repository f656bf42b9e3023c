import pytest
from pydantic import ValidationError

from minions.clients.base import parse_structured
from minions.types import Completion, JobOutput, Message, Usage


def test_usage_adds_every_field():
    a = Usage(input_tokens=10, output_tokens=2, cached_input_tokens=4, calls=1, retries=2)
    b = Usage(input_tokens=5, output_tokens=3, cached_input_tokens=0, calls=2)
    assert a + b == Usage(
        input_tokens=15, output_tokens=5, cached_input_tokens=4, calls=3, retries=2
    )


def test_usage_counts_requests_with_retries():
    jobs = sum([Usage(calls=1, retries=1)] * 5 + [Usage(calls=1)] * 7, Usage())
    assert (jobs.calls, jobs.retries, jobs.requests) == (12, 5, 17)
    assert Usage(retries=1)  # a request made is something used
    assert Usage.model_validate_json('{"input_tokens": 3, "calls": 1}').retries == 0


def test_usage_zero_is_identity_and_sum_works():
    a = Usage(input_tokens=7, output_tokens=1, calls=1)
    assert Usage() + a == a
    assert sum([a, a, a]) == Usage(input_tokens=21, output_tokens=3, calls=3)
    assert sum([], Usage()) == Usage()
    assert not Usage()
    assert a.total_tokens == 8


def test_usage_rejects_negative_and_unknown_fields():
    with pytest.raises(ValidationError):
        Usage(input_tokens=-1)
    with pytest.raises(ValidationError):
        Usage(tokens=3)


def test_usage_does_not_add_to_other_types():
    with pytest.raises(TypeError):
        Usage() + 3  # type: ignore[operator]


def test_message_helpers_and_validation():
    assert Message.user("hi") == Message(role="user", content="hi")
    assert Message.system("s").role == "system"
    with pytest.raises(ValidationError):
        Message(role="tool", content="x")


def test_completion_truncated_flag():
    assert Completion(text="x", finish_reason="length").truncated
    assert not Completion(text="x").truncated


ABSTENTION = '{"explanation": "The text is about rent.", "citation": null, "answer": null}'


def test_job_output_accepts_a_real_abstention_and_an_answer():
    abstained = JobOutput.model_validate_json(ABSTENTION)
    assert abstained.abstained and abstained.citation is None
    answered = JobOutput.model_validate_json(
        '{"explanation": "Stated.", "citation": "Revenue was 42", "answer": 42}'
    )
    assert answered.answer == "42" and not answered.abstained  # numbers become text
    listed = JobOutput.model_validate({"explanation": "", "citation": ["a", "b"], "answer": "x"})
    assert listed.citation == "a; b"


@pytest.mark.parametrize(
    "reply",
    [
        '{"foo": 1}',
        "{}",
        '{"explanation": "x", "answer": null}',  # citation missing
        '{"citation": null, "answer": null}',  # explanation missing
        '{"explanation": null, "citation": null, "answer": null}',
        '{"explanation": "x", "citation": null, "answer": null, "confidence": 0.9}',
    ],
)
def test_job_output_rejects_missing_and_unknown_keys(reply):
    parsed, error = parse_structured(reply, JobOutput)
    assert parsed is None
    assert error is not None and "JobOutput schema" in error


def test_job_output_schema_sent_to_providers_requires_every_key():
    schema = JobOutput.model_json_schema()
    assert schema["required"] == ["citation", "explanation", "answer"]  # the quote first
    assert schema["additionalProperties"] is False
    assert schema["properties"]["explanation"]["type"] == "string"
    for key in ("citation", "answer"):
        assert {"type": "null"} in schema["properties"][key]["anyOf"]
