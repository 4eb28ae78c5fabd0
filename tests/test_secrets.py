"""No secret is committed: detect-secrets scans every file git tracks or would add.

A line that holds a deliberate fake (the development SECRET_KEY, a test's URL with a
password) says so with ``# pragma: allowlist secret``; anything else it finds fails.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from detect_secrets import SecretsCollection
from detect_secrets.settings import default_settings, transient_settings

from bench import paths

# The harness's own output names commits and digests, whose hex reads as entropy.
NOT_SECRETS = [r'"(git_revision|code|fingerprint|digest|key)": "[0-9a-f]{12,40}"']
# Not scanned (matched against absolute paths): charts drawn by the harness, path data
# with no text a secret could hide in; vendored third-party code, minified as its project
# ships it; the result files, runs/ included, megabytes of figures the harness writes
# from the machine, the servers' settings and k6, never from a URL or the environment
# (checked below). Scanning the runs was most of this test's time.
RESULT_FILES = r"docs/results/(?:runs/)?[^/]+\.json$"
NOT_SCANNED = [r"/media/.*\.svg$", r"/docs/javascripts/vendor/", "/" + RESULT_FILES]
CREDENTIALS_IN_A_URL = re.compile(r"[a-z]+://[^/\s:@\"]+:[^/\s@\"]+@")


def tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    return [name for name in listed if (paths.ROOT / name).is_file()]


def scan(root: Path, files: list[str]) -> list[str]:
    """What detect-secrets finds in ``files`` (relative to ``root``): every plugin, its
    default filters (the allowlist pragma among them) and ours."""
    with default_settings() as settings:
        config = settings.json()
    config["filters_used"] = [
        *config["filters_used"],
        {"path": "detect_secrets.filters.regex.should_exclude_line", "pattern": NOT_SECRETS},
        {"path": "detect_secrets.filters.regex.should_exclude_file", "pattern": NOT_SCANNED},
    ]
    found = SecretsCollection(root=str(root))
    with transient_settings(config):
        found.scan_files(*files)
    return sorted(f"{name}:{secret.line_number} {secret.type}" for name, secret in found)


def test_no_secret_is_committed():
    files = tracked_files()
    assert len(files) > 100
    assert scan(paths.ROOT, files) == []


def test_no_result_file_holds_a_url_with_credentials():
    results = [name for name in tracked_files() if re.match(RESULT_FILES, name)]
    assert any(name.startswith("docs/results/runs/") for name in results)
    for name in results:
        assert not CREDENTIALS_IN_A_URL.search((paths.ROOT / name).read_text()), name


def test_the_scan_finds_a_key_left_in_a_settings_file(tmp_path: Path):
    # Assembled here so that this file holds no key itself.
    key = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYzq8vLt3Nh2"
    (tmp_path / "settings.py").write_text(f'AWS_SECRET_ACCESS_KEY = "{key}"\n')
    (tmp_path / "allowed.py").write_text(f'SECRET_KEY = "{key}"  # pragma: allowlist secret\n')
    found = scan(tmp_path, ["settings.py", "allowed.py"])
    assert found
    assert all(finding.startswith("settings.py:1 ") for finding in found)
