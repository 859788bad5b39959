"""The API's OpenAPI 3 schema (/api/v1/schema/) and its Swagger UI page (/api/v1/docs/).

The schema must list every endpoint the URL resolver knows under /api/v1/ (so an endpoint
added without documentation fails here), validate as OpenAPI 3, and describe the answers the
API really gives: real answers, from a trained model and monitored rounds, are checked against
the documented shapes, key for key.
"""

from __future__ import annotations

import re
from urllib.parse import urlparse

import jsonschema
import pytest
import yaml
from django.contrib.staticfiles import finders
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recommender.api import views
from recommender.engine.model import SVDConfig
from recommender.models import DriftReport
from recommender.services.registry import model_version_train
from recommender.services.scoring import scoring_run_create
from tests.users import VIEWER_ID, client_for, create_users

pytestmark = pytest.mark.django_db

SCHEMA = "/api/v1/schema/"
DOCS = "/api/v1/docs/"
NOT_ENDPOINTS = {"not-found", "schema", "docs"}  # the catch-all and the schema's own views
CONFIG = SVDConfig(n_factors=10, n_epochs=5, seed=0)

# The statuses each endpoint can answer (by URL name); 401 and 500 can come from any.
STATUSES = {
    "viewer-recommendations": {200, 400, 401, 403, 404, 500, 503},
    "champion": {200, 401, 403, 404, 500},
    "metrics": {200, 400, 401, 403, 500},
    "drift-report-list": {200, 400, 401, 403, 500},
    "drift-report-detail": {200, 401, 403, 404, 500},
}
# Query parameters, as the views parse them: (default, minimum, maximum).
QUERY = {
    "viewer-recommendations": {"n": (views.DEFAULT_LIST_LENGTH, 1, views.MAX_LIST_LENGTH)},
    "metrics": {"limit": (views.DEFAULT_HISTORY, 1, views.MAX_HISTORY)},
    "drift-report-list": {"limit": (views.DEFAULT_HISTORY, 1, views.MAX_HISTORY)},
}


def api_endpoints() -> dict[str, tuple[str, list[str]]]:
    """{URL name: (OpenAPI path, path parameters)} of every endpoint under the API's
    namespace, from the resolver: a new endpoint shows up here without anyone listing it."""
    (api,) = [
        entry
        for entry in get_resolver().url_patterns
        if isinstance(entry, URLResolver) and entry.namespace == "api"
    ]
    prefix = "/" + str(api.pattern)
    found = {}
    for entry in api.url_patterns:
        assert isinstance(entry, URLPattern), "the API has no nested includes"
        if entry.name in NOT_ENDPOINTS:
            continue
        route = str(entry.pattern)
        found[entry.name] = (
            prefix + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route),
            re.findall(r"<(?:\w+:)?(\w+)>", route),
        )
    return found


def token_client(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def users(db):
    return create_users()


@pytest.fixture
def served_schema(users) -> dict:
    """The schema as the API serves it to a reviewer."""
    response = token_client(users["reviewer"]).get(SCHEMA)
    assert response.status_code == 200, response.content[:300]
    return response.json()


# --- (a) every endpoint, with its parameters and statuses ----------------------------------


def test_the_endpoints_to_document_are_found():
    """Guards the test below: the resolver walk finds the five endpoints."""
    assert set(api_endpoints()) == set(STATUSES)


def test_the_schema_lists_every_endpoint_and_nothing_else(served_schema):
    documented = {path: set(operations) for path, operations in served_schema["paths"].items()}

    assert documented == {path: {"get"} for path, _ in api_endpoints().values()}


@pytest.mark.parametrize("name", sorted(STATUSES))
def test_each_endpoint_documents_its_parameters_and_answers(served_schema, name):
    path, path_parameters = api_endpoints()[name]
    operation = served_schema["paths"][path]["get"]
    parameters = {(p["in"], p["name"]): p for p in operation.get("parameters", [])}

    assert operation["summary"] and operation["description"] and operation["operationId"]
    assert {"tokenAuth": []} in operation["security"] and {} not in operation["security"]
    assert set(parameters) == {("path", p) for p in path_parameters} | {
        ("query", q) for q in QUERY.get(name, {})
    }
    for parameter in path_parameters:
        documented = parameters["path", parameter]
        assert documented["required"] and documented["schema"]["type"] == "integer"
        assert documented["description"]
    for parameter, (default, low, high) in QUERY.get(name, {}).items():
        documented = parameters["query", parameter]
        assert not documented.get("required", False) and documented["description"]
        assert documented["schema"] == {
            "type": "integer",
            "default": default,
            "minimum": low,
            "maximum": high,
        }

    responses = operation["responses"]
    assert {int(status) for status in responses} == STATUSES[name]
    ok = responses["200"]["content"]["application/json"]["schema"]
    assert ok["$ref"].startswith("#/components/schemas/"), "the 200 answer has a shape"
    for status, response in responses.items():
        assert response["description"], status
        if status != "200":
            error = response["content"]["application/json"]["schema"]
            assert error == {"$ref": "#/components/schemas/Error"}, status


def test_the_error_shape_is_one_string_named_error(served_schema):
    assert served_schema["components"]["schemas"]["Error"] == {
        "type": "object",
        "properties": {
            "error": {
                "type": "string",
                "description": "What is wrong, and with which parameter or id.",
            }
        },
        "required": ["error"],
    }


def test_token_authentication_is_a_security_scheme(served_schema):
    token = served_schema["components"]["securitySchemes"]["tokenAuth"]

    assert token["type"] == "apiKey" and token["in"] == "header"
    assert token["name"] == "Authorization"


# --- (b) it validates ------------------------------------------------------------------------


def test_the_generated_schema_validates_as_openapi_3():
    schema = SchemaGenerator().get_schema(request=None, public=True)

    validate_schema(schema)  # raises on an invalid document
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {path for path, _ in api_endpoints().values()}


def test_the_served_schema_validates_and_yaml_says_the_same(served_schema, users):
    validate_schema(served_schema)

    response = token_client(users["reviewer"]).get(SCHEMA, {"format": "yaml"})

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content) == served_schema


# --- (c) the documented shapes are the answers' shapes ---------------------------------------


def json_schema(node, components: dict):
    """The OpenAPI 3.0 schema `node` as plain JSON Schema: references inlined, `nullable`
    written as a null alternative (jsonschema does not know `nullable`)."""
    if isinstance(node, list):
        return [json_schema(item, components) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        return json_schema(components[node["$ref"].rpartition("/")[2]], components)
    node = {key: json_schema(value, components) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
        else:
            alternatives = node.pop("oneOf", None) or [{"allOf": node.pop("allOf")}]
            node["anyOf"] = [*alternatives, {"type": "null"}]
    return node


def check_keys(body, schema: dict, where: str = "answer") -> None:
    """Every object of `body` has the documented keys: all the required ones and none that
    are not documented (recursively, through lists, maps and nullable objects)."""
    if body is None:
        return
    for alternative in schema.get("anyOf", []) + schema.get("allOf", []):
        if alternative.get("type") != "null":
            check_keys(body, alternative, where)
    if "properties" in schema:
        keys, properties = set(body), set(schema["properties"])
        assert set(schema.get("required", [])) <= keys, f"{where} lacks documented keys"
        assert keys <= properties, f"{where} has undocumented keys {keys - properties}"
        for key in keys:
            check_keys(body[key], schema["properties"][key], f"{where}.{key}")
    elif isinstance(schema.get("additionalProperties"), dict):
        for key, value in body.items():
            check_keys(value, schema["additionalProperties"], f"{where}[{key!r}]")
    elif "items" in schema:
        for index, item in enumerate(body):
            check_keys(item, schema["items"], f"{where}[{index}]")


def check_answer(schema: dict, path: str, body: dict) -> None:
    components = schema["components"]["schemas"]
    ok = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
    documented = json_schema(ok["schema"], components)

    jsonschema.validate(body, documented)
    assert set(body) == set(documented["properties"]) == set(documented["required"])
    check_keys(body, documented)


@pytest.fixture
def served_run(users, bundled_subset, artifact_dir):
    """A trained champion and its scoring run, on the first 120 viewers of MovieLens."""
    model_version_train(actor="command:test", config=CONFIG)
    return scoring_run_create(actor="command:test")


@pytest.fixture
def champion(served_run):
    """The champion served_run scored with (what the monitored rounds judge)."""
    return served_run.model_version


def test_the_champion_and_recommendations_are_shaped_as_documented(
    served_schema, served_run, users
):
    reviewer = token_client(users["reviewer"])
    paths = {name: path for name, (path, _) in api_endpoints().items()}

    champion = reviewer.get("/api/v1/champion/")
    assert champion.status_code == 200
    check_answer(served_schema, paths["champion"], champion.json())
    assert champion.json()["benchmark"]["overall"] is not None

    for viewer_id in (VIEWER_ID, 42):
        answer = reviewer.get(f"/api/v1/viewers/{viewer_id}/recommendations/", {"n": 3})
        assert answer.status_code == 200
        assert len(answer.json()["films"]) == 3
        check_answer(served_schema, paths["viewer-recommendations"], answer.json())


def test_the_metric_history_and_drift_reports_are_shaped_as_documented(
    served_schema, served_run, monitored_rounds, users
):
    reviewer = token_client(users["reviewer"])
    paths = {name: path for name, (path, _) in api_endpoints().items()}

    history = reviewer.get("/api/v1/metrics/").json()
    assert len(history["rounds"]) == 2 and history["rounds"][0]["drift"] is not None
    check_answer(served_schema, paths["metrics"], history)

    reports = reviewer.get("/api/v1/drift-reports/").json()
    assert len(reports["drift_reports"]) == DriftReport.objects.count() >= 2
    check_answer(served_schema, paths["drift-report-list"], reports)

    report = reviewer.get(f"/api/v1/drift-reports/{reports['drift_reports'][0]['id']}/")
    assert report.status_code == 200 and report.json()["metrics"]
    check_answer(served_schema, paths["drift-report-detail"], report.json())


def test_an_error_answer_is_shaped_as_documented(served_schema, users):
    error = json_schema(
        {"$ref": "#/components/schemas/Error"}, served_schema["components"]["schemas"]
    )

    for path in ("/api/v1/champion/", "/api/v1/metrics/?limit=0"):
        response = token_client(users["reviewer"]).get(path)
        assert response.status_code in (400, 404)
        jsonschema.validate(response.json(), error)
        check_keys(response.json(), error)


# --- (d) who may read the schema and the docs page -------------------------------------------


def test_anonymous_clients_get_a_json_401_for_the_schema_and_the_login_page_for_the_docs(users):
    for params in ({}, {"format": "yaml"}):
        response = APIClient().get(SCHEMA, params)
        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"
        assert response["WWW-Authenticate"] == "Token"
        assert response.json() == {"error": "Authentication credentials were not provided."}

    docs = client_for(None).get(DOCS)

    assert docs.status_code == 302
    assert docs["Location"] == f"/login/?next={DOCS}"


@pytest.mark.parametrize("role", ["plain", "viewer"])
def test_accounts_that_may_not_browse_are_refused_both(users, role):
    schema = token_client(users[role]).get(SCHEMA)
    docs = client_for(users[role]).get(DOCS)

    assert schema.status_code == 403
    assert schema.json() == {"error": "only reviewers and staff may read this"}
    assert docs.status_code == 403
    assert b"Not allowed" in docs.content and b"swagger" not in docs.content.lower()


@pytest.mark.parametrize("role", ["staff", "reviewer"])
def test_reviewers_and_staff_read_both(users, role):
    assert token_client(users[role]).get(SCHEMA).status_code == 200
    assert client_for(users[role]).get(DOCS).status_code == 200


def test_the_docs_page_loads_swagger_ui_from_the_sites_own_static_files(users):
    client = client_for(users["reviewer"])
    page = client.get(DOCS).content.decode()

    addresses = re.findall(r"https?://[^\s\"'<>]+", page)
    assert {urlparse(address).netloc for address in addresses} <= {"testserver"}, addresses
    assets = re.findall(r"""(?:src|href)="([^"]+)\"""", page)
    assert {a.rpartition("/")[2] for a in assets} >= {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
    }
    for asset in assets:
        assert asset.startswith("/static/drf_spectacular_sidecar/"), asset
        assert finders.find(asset.removeprefix("/static/")), f"{asset} is not a static file"
    # The page reads the schema from the site, with the reviewer's session.
    assert f'url: "{SCHEMA}"' in page.replace("\\u002D", "-").replace("\\u002F", "/")
    assert client.get(SCHEMA).status_code == 200


def test_the_schema_is_not_in_the_schema(served_schema):
    """Neither the schema, the docs page nor the catch-all 404 is documented as an endpoint."""
    documented = " ".join(served_schema["paths"])

    assert "schema" not in documented and "docs" not in documented
    assert "/api/v1/" not in served_schema["paths"]


def test_a_champion_of_a_ranking_family_is_shaped_as_documented(
    served_schema, users, bundled_subset, artifact_dir
):
    model_version_train(actor="command:test", family="als", config={"factors": 8, "seed": 1})
    paths = {name: path for name, (path, _) in api_endpoints().items()}

    answer = token_client(users["reviewer"]).get("/api/v1/champion/")

    assert answer.status_code == 200
    check_answer(served_schema, paths["champion"], answer.json())
    assert answer.json()["algorithm"] == "als"
    assert answer.json()["config"] == {
        "factors": 8, "regularization": 0.1, "alpha": 2.0, "iterations": 20,
        "film_bias_weight": 0.02, "rating_weight": 0.5, "seed": 1,
    }  # fmt: skip
