import os
import warnings

import pytest

from bench import services, variables

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
# The suites' PostgreSQL does not wait for the disk (bench/services.py NOT_DURABLE), as
# make test has it: pytest run by hand meets the same server, not a restart.
variables.prefer("CRM_PG_DURABLE", "0")


@pytest.fixture(scope="session")
def servers() -> services.Services:
    """PostgreSQL and Redis: embedded unless DATABASE_URL / REDIS_URL are set."""
    return services.ensure()


def need_installed(*names: str) -> None:
    """Skip a test whose servers from the operating system's packages (``pgbouncer``,
    ``haproxy``) are missing, with what to install; in CI, which installs them, fail."""
    from bench import serve

    missing = [problem for name in names if (problem := serve.OPTIONAL[name].missing())]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{'; '.join(missing)}: .ci/run installs them")
        pytest.skip("; ".join(missing))
