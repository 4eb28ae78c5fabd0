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
    # The steps it concerns, by how they page, and the parameter the 400 names.
    pagination: str
    field: str


UNDOCUMENTABLE = {
    "a page past the end": Undocumentable(
        "Steps that number their pages: how many there are depends on the rows, which no"
        " schema knows. A page past the end is a 400 naming `page`.",
        "page",
        "page",
    ),
    "a cursor the server did not issue": Undocumentable(
        "Steps that page with a cursor: the document bounds its length, but no schema can"
        " say which strings carry the step's signature. Any other is a 400 naming `cursor`.",
        "cursor",
        "cursor",
    ),
}


def excused(pagination: str, status: int, detail: str) -> list[str]:
    """The names of the cases this answer is, on a step that pages as ``pagination``."""
    return [
        name
        for name, case in UNDOCUMENTABLE.items()
        if case.pagination == pagination and status == 400 and detail.startswith(f"{case.field}:")
    ]


def _detail(response) -> str:
    try:
        return str(response.json().get("detail", ""))
    except ValueError:
        return ""


@schemathesis.check
def positive_data_acceptance_but_undocumentable(ctx, response, case):
    """schemathesis's own check, but for the answers listed above."""
    pagination = os.environ.get("CRM_PAGINATION", "")
    if excused(pagination, response.status_code, _detail(response)):
        return None
    return positive_data_acceptance(ctx, response, case)
