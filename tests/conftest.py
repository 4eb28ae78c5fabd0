import warnings

import pytest

from bench import services

warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


@pytest.fixture(scope="session")
def servers() -> services.Services:
    """PostgreSQL and Redis: embedded unless DATABASE_URL / REDIS_URL are set."""
    return services.ensure()
