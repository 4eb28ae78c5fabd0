"""Requests generated from each step's own OpenAPI document, by schemathesis.

For every operation the step documents, Hypothesis builds requests that the document
allows and requests it forbids. Every answer must be no 5xx, carry a status code the
document lists for that operation, and match the body the document gives for it. The
budget per operation is fixed and the generation derandomised: a run is repeatable,
fits CI, and a failure prints the request as a curl command to replay. They run on a
copy of the step's database of their own (`scratch`): they rename and delete seeded
customers, whom the other contract tests read.
"""

from __future__ import annotations

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.contract.conftest import Target

EXAMPLES = 30
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
BUDGET = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_keep_the_documented_contract(scratch: Target, mode: GenerationMode):
    schema = schemathesis.openapi.from_url(f"{scratch.base_url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5

    for operation in operations:

        @BUDGET
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def answers_as_documented(case):
            case.call_and_validate(base_url=scratch.base_url, checks=CHECKS)

        answers_as_documented()
