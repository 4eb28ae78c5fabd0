"""The seeded data sets the repository's tests share: each base is seeded once per run."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bench import database


@dataclass(frozen=True)
class Dataset:
    customers: int
    seed: int
    prefix: str

    def step_url(self, admin_url: str, step, fresh: bool = False, copy: str = "") -> str:
        """A migrated clone of this data set for ``step``; ``fresh`` for tests that write,
        ``copy`` for a second clone beside the step's own."""
        return database.prepare_step(
            admin_url, step, self.customers, self.seed, self.prefix, fresh=fresh, copy=copy
        )

    def terms(self) -> dict:
        """The workload's term file for this data set (written when its base is seeded)."""
        path = database.terms_path(database.base_fingerprint(self.customers, self.seed))
        return json.loads(path.read_text())


# Seeds in a second, and still holds several pages per filter: contract and fault tests.
SMALL = Dataset(2_000, 7, "crm_test")
# Big enough for the planner to prefer an index wherever one helps: the plan tests.
PLANNED = Dataset(50_000, 11, "crm_plan")
