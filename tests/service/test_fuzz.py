"""API fuzzing with schemathesis against the published schema, over real HTTP, bounded: no
answer is a 5xx, and every error is problem+json."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.service.conftest import Served

EXAMPLES = 12  # per operation: bounded in count, and the server is on loopback
#: a server-sent-events stream never ends by design: tests/service/test_realtime.py reads it
STREAMS = {"/api/stream/memberships"}


@pytest.mark.slow
def test_no_operation_answers_5xx_and_errors_are_problem_json(served: Served) -> None:
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    auth = {"Authorization": f"Bearer {served.keys['admin']}"}
    seen: dict[str, set[int]] = {}
    for found in schema.get_all_operations():
        operation = found.ok()
        if operation.path in STREAMS:
            continue

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=served.url, headers=auth, timeout=60)
            label = f"{case.method} {case.formatted_path}"
            assert response.status_code < 500, f"{label}: {response.status_code} {response.text}"
            if response.status_code >= 400:
                assert response.headers.get("content-type") == ["application/problem+json"], label
            seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)

        check()
    assert len(seen) >= 15, seen  # every operation was called
