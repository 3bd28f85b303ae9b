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


def test_the_article_schema_is_the_models_own():
    """Described from the pydantic model, not a second copy: every field the model
    reads, with its limits, and ``source`` (read before validation, names the site)."""
    from service.article import Article

    schemas = spec()["components"]["schemas"]
    article = schemas["Article"]
    assert set(article["properties"]) == set(Article.model_fields) | {"source"}
    assert article["required"] == ["id", "title"]
    assert article["properties"]["id"]["maxLength"] == 200
    published = article["properties"]["published_at"]["anyOf"][0]
    assert {"type": "string", "format": "date-time"} in published["anyOf"]
    # Every form the model reads (service.dates), named for the client.
    assert "RFC 2822" in published["description"] and "نيسان" in published["description"]
    assert schemas["LeadImage"]["required"] == ["src"]
    refs = {"#/components/schemas/" + name for name in schemas}
    assert all(ref in refs for ref in _refs(spec()))


def _refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)
