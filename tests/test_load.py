"""The load test (bench/load.py) in the suite: 16 clients for 60 s against a real server."""

from __future__ import annotations

import pytest

from bench.load import load_test

pytestmark = pytest.mark.slow


def test_sixteen_clients_for_a_minute(seed_index):
    out = load_test(seed_index, clients=16, seconds=60)
    print(f"\nload: {out['requests']} requests, {len(out['errors'])} errors, p50 {out['all']['median']:.1f} ms, "
          f"p95 {out['all']['p95']:.1f} ms, RSS {out['rss_warm_mb']:.0f} -> {out['rss_after_mb']:.0f} MB")
    assert out["requests"] > 100
    assert out["errors"] == []
    assert set(out["per_path"]) == {"/api/search", "/api/ask", "/api/similar"}
    assert out["rss_after_mb"] <= out["rss_warm_mb"] * 1.10
