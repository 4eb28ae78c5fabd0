"""Requests generated from each step's own OpenAPI document, by schemathesis.

For every operation the step documents, Hypothesis builds requests that the document
allows and requests it forbids, and every check schemathesis has judges each answer:
no 5xx; a status, content type, headers and body the document lists for that operation;
a request the document allows is accepted, one it forbids is refused. So a client
generated from the document never sends what the API then rejects. The budget per
operation is fixed and the generation derandomised: a run is repeatable, fits CI, and a
failure prints the request as a curl command to replay. They run on a copy of the
step's database of their own (`scratch`): they rename and delete seeded customers, whom
the other contract tests read.

What an OpenAPI document cannot say is listed once, below, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from bench import steps
from tests.contract.conftest import Target

load_all_checks()
EVERY_CHECK = CHECKS.get_all()
EXAMPLES = 30
BUDGET = hypothesis.settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(hypothesis.HealthCheck),
)


def refused(field: str) -> Callable[[object], bool]:
    def names(response) -> bool:
        return response.status_code == 400 and response.json()["detail"].startswith(f"{field}:")

    return names


@dataclass(frozen=True)
class Undocumentable:
    """An answer the document cannot promise: ``excuses`` these checks on the responses
    ``matches`` picks, on the steps that page as ``pagination`` says."""

    reason: str
    pagination: str
    matches: Callable[[object], bool]
    excuses: tuple = (positive_data_acceptance,)


UNDOCUMENTABLE = {
    "a page past the end": Undocumentable(
        "Steps that number their pages: how many there are depends on the rows, which no"
        " schema knows. A page past the end is a 400 naming `page` (docs/api-contract.md).",
        "page",
        refused("page"),
    ),
    "a cursor the server did not issue": Undocumentable(
        "Steps that page with a cursor: the document bounds its length, but a schema"
        " cannot say which strings carry the step's signature. Any other is a 400 naming"
        " `cursor` (docs/api-contract.md).",
        "cursor",
        refused("cursor"),
    ),
}


def excused(step: steps.Step, response) -> list:
    return [
        check
        for case in UNDOCUMENTABLE.values()
        if case.pagination == step.pagination and case.matches(response)
        for check in case.excuses
    ]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_generated_requests_keep_the_documented_contract(scratch: Target, mode: GenerationMode):
    schema = schemathesis.openapi.from_url(f"{scratch.base_url}/api/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 5

    for operation in operations:

        @BUDGET
        @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
        def answers_as_documented(case):
            response = case.call(base_url=scratch.base_url)
            case.validate_response(
                response, checks=EVERY_CHECK, excluded_checks=excused(scratch.step, response)
            )

        answers_as_documented()


def test_every_check_judges_the_answers():
    names = {check.__name__ for check in EVERY_CHECK}
    assert {"positive_data_acceptance", "negative_data_rejection", "not_a_server_error"} <= names
