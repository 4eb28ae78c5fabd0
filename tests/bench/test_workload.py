"""The k6 workload itself, run by the real k6: when a scenario stops."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bench import probe, run, workload

# Slow enough that one walk of WALK_PAGES pages lasts fifteen times the run, and not a
# divisor of it: the run ends in the middle of a page, never on its edge.
PAGE_S = 0.3


class SlowPages(BaseHTTPRequestHandler):
    """An endless listing, one slow page after another: a step too slow for a walk."""

    def do_GET(self):
        time.sleep(PAGE_S)
        host, port = self.server.server_address
        page = {
            "results": [],
            "next": f"http://{host}:{port}/api/customers/?page=2",
            "previous": None,
        }
        body = json.dumps(page).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def slow_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), SlowPages)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_walk_stops_at_the_next_page_once_the_run_is_over(slow_server, tmp_path):
    """Without the stop, k6 waits for the walk (WALK_PAGES + 1 pages) to finish."""
    terms = tmp_path / "terms.json"
    # A walk draws no term; the script's top level reads this one.
    terms.write_text(json.dumps({"last_names": {"hot": [], "cold": []}}))
    settings = run.Settings.from_env({"VUS": "1", "SCENARIOS": "walk"})
    summary = workload.k6(slow_server, terms, "walk", settings, 1)
    assert summary["errors"] == 0
    assert summary["iterations"] == 1
    assert 1 < summary["requests"] < probe.WALK_PAGES / 4
