"""Schemathesis against /openapi.json: what the description allows, and the edge cases
of it, never gets a 5xx answer (and the description is a valid OpenAPI document)."""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from service.openapi import spec

# Listed from the description itself; the route table test checks it is complete.
OPERATIONS = [(path, method) for path, methods in spec()["paths"].items() for method in methods]


@pytest.mark.parametrize("path,method", OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS])
def test_no_server_errors(app, loaded_store, path, method):
    operation = schemathesis.openapi.from_wsgi("/openapi.json", app)[path][method]

    # The pytest plugin of schemathesis does not run under pytest 9: drive Hypothesis here.
    @given(case=operation.as_strategy())
    @settings(max_examples=25, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def check(case):
        case.call_and_validate(checks=[not_a_server_error])

    check()
