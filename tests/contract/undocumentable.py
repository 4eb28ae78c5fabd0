"""What an OpenAPI document cannot promise: the one list of it, with the reasons.

Loaded by schemathesis as its hooks module (``SCHEMATHESIS_HOOKS``) when
tests/contract/test_generated.py runs it against a step: the check below replaces
``positive_data_acceptance`` and excuses exactly these answers, on the steps they
concern (``CRM_PAGINATION``, the step's ``pagination`` in step.toml), and nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance


@dataclass(frozen=True)
class Undocumentable:
    reason: str
    # The steps it concerns, by how they page, the parameter the 400 names, and the
    # messages it may give: a cursor that is too long breaks a bound the document
    # states, and is not excused.
    pagination: str
    field: str
    messages: tuple[str, ...]


UNDOCUMENTABLE = {
    "a page past the end": Undocumentable(
        "Steps that number their pages: how many there are depends on the rows, which no"
        " schema knows. A page past the end is a 400 naming `page`.",
        "page",
        "page",
        ("Invalid page.",),
    ),
    "a cursor the server did not issue": Undocumentable(
        "Steps that page with a cursor: the document bounds its length, but no schema can"
        " say which strings carry the step's signature. Any other is a 400 naming `cursor`.",
        "cursor",
        "cursor",
        (
            "Invalid cursor.",
            "Invalid cursor: follow the next or previous link as given.",
            "This cursor belongs to a listing with other parameters.",
        ),
    ),
}


def excused(pagination: str, status: int, body: object) -> list[str]:
    """The names of the cases this answer is, on a step that pages as ``pagination``: a
    400 whose only error is one of the case's messages for its field."""
    errors = body.get("errors") if isinstance(body, dict) else None
    return [
        name
        for name, case in UNDOCUMENTABLE.items()
        if case.pagination == pagination
        and status == 400
        and isinstance(errors, list)
        and [(e.get("field"), e.get("message") in case.messages) for e in errors]
        == [(case.field, True)]
    ]


def _body(response) -> object:
    try:
        return response.json()
    except ValueError:
        return None


@schemathesis.check
def positive_data_acceptance_but_undocumentable(ctx, response, case):
    """schemathesis's own check, but for the answers listed above."""
    pagination = os.environ.get("CRM_PAGINATION", "")
    if excused(pagination, response.status_code, _body(response)):
        return None
    return positive_data_acceptance(ctx, response, case)
