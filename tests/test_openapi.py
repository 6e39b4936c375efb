"""/schema/openapi.json tells the truth: the errors each operation answers and their shape,
the multipart body of an upload, the limits of request lists, the keys request models refuse;
a client generated from it uploads a batch and reads it back; a wrong method says Allow."""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from io import BytesIO
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api import create_app
from app.names import NOT_BLANK

from .conftest import INBOX
from .live import serving

ERROR = {"$ref": "#/components/schemas/Error"}
BODY = {400, 413, 415, 422}
UPLOADS = {
    "/v1/classifications/{cls_id}/batches",
    "/v1/extractions/{ext_id}/batches",
    "/v1/classifications/{cls_id}/categories/{category_id}/examples",
}
METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}
INVOICE = b"INVOICE\nTotal due: 12 EUR"


@pytest.fixture
async def schema(client: Any) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method, path, operation


def component(schema: dict[str, Any], ref: dict[str, Any]) -> dict[str, Any]:
    return schema["components"]["schemas"][ref["$ref"].rsplit("/", 1)[1]]


def statuses(operation: dict[str, Any]) -> set[int]:
    return {int(status) for status in operation["responses"]}


def test_the_error_model_is_what_the_handlers_send(schema):
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    info = component(schema, error["properties"]["error"])
    assert set(info["properties"]) == {"code", "message", "details"}
    assert sorted(info["required"]) == ["code", "message"]
    litestar_shape = {"status_code", "detail"}
    assert not [n for n in _walk(schema) if litestar_shape <= set(n.get("properties", {}))]


def test_every_operation_declares_the_errors_it_can_answer(schema):
    for method, path, operation in operations(schema):
        label = f"{method.upper()} {path}"
        expected = {421}  # the Host header is checked before anything else
        if "{" in path:
            expected.add(404)
        if "requestBody" in operation:
            expected |= BODY
        if method != "get":
            expected.add(403)  # a change sent by another origin's page
        if path.endswith("/confirm"):
            expected.add(409)  # a file with no verdict yet
        if path.endswith("/batches/{batch_id}/redo"):
            expected.add(422)  # ?files= is neither "failed" nor "all"
        if path == "/health":
            expected.add(503)
        errors = {status for status in statuses(operation) if status >= 400}
        assert errors == expected, label
        for status in errors - {503}:
            content = operation["responses"][str(status)]["content"]
            assert content == {"application/json": {"schema": ERROR}}, (label, status)


def test_health_answers_503_with_its_report(schema):
    unavailable = schema["paths"]["/health"]["get"]["responses"]["503"]
    assert unavailable["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Health"
    }


def test_uploads_declare_a_multipart_body_of_files(schema, settings):
    uploads = {path for _, path, op in operations(schema) if "multipart/form-data" in str(op)}
    assert uploads == UPLOADS
    for path in UPLOADS:
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        form = body["content"]["multipart/form-data"]["schema"]
        assert form["required"] == ["files"]
        files = form["properties"]["files"]
        assert files["type"] == "array"
        assert (files["minItems"], files["maxItems"]) == (1, settings.max_files)
        assert files["items"]["type"] == "string" and files["items"]["format"] == "binary"


def test_success_bodies_are_typed(schema):
    for method, path, operation in operations(schema):
        for status, response in operation["responses"].items():
            if not status.startswith("2") or not response.get("content"):
                continue
            body = response["content"]["application/json"]["schema"]
            assert component(schema, body)["properties"], f"{method.upper()} {path} {status}"


def test_links_lead_to_operations_with_the_parameters_they_fill(schema):
    by_id = {op["operationId"]: (path, op) for _, path, op in operations(schema)}
    linked = 0
    for _, _, operation in operations(schema):
        for response in operation["responses"].values():
            for link in response.get("links", {}).values():
                path, target = by_id[link["operationId"]]
                wanted = {p["name"] for p in target.get("parameters", []) if p["in"] == "path"}
                assert set(link["parameters"]) == wanted, link
                linked += 1
    assert linked >= 20


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def test_list_limits_are_item_counts(schema):
    for node in _walk(schema["components"]["schemas"]):
        if "minLength" in node or "maxLength" in node:
            assert node.get("type") == "string", node
    models = schema["components"]["schemas"]
    for model, key in [
        ("ClassificationPatch", "categories"),
        ("ExtractionPatch", "fields"),
        ("ItemSpec", "values"),
        ("FieldSpec", "fields"),
    ]:
        array = next(s for s in models[model]["properties"][key]["oneOf"] if s["type"] == "array")
        assert (array["minItems"], array["maxItems"]) == (1, 100), (model, key)
    categories = models["ClassificationIn"]["properties"]["categories"]
    assert (categories["minItems"], categories["maxItems"]) == (1, 100)


def test_names_say_they_are_not_blank(schema):
    """A name is cleaned (NFKC, stripped) before its length counts: the schema, which sees
    it as sent, says it has a character strip() keeps, in ECMA-262 as Python."""
    assert all((re.search(NOT_BLANK, chr(c)) is None) == chr(c).isspace() for c in range(0x110000))
    models = schema["components"]["schemas"]
    for node in [
        models["ClassificationIn"]["properties"]["name"],
        models["CategoryIn"]["properties"]["name"],
        models["CategoryIn"]["properties"]["keywords"]["items"],
        models["ClassificationPatch"]["properties"]["name"]["oneOf"][0],
        models["ExtractionPatch"]["properties"]["name"]["oneOf"][0],
        models["ItemSpec"]["properties"]["values"]["oneOf"][0]["items"],
        models["WebhookIn"]["properties"]["url"],
    ]:
        assert node["pattern"] == NOT_BLANK, node


def test_request_models_refuse_extra_keys(schema):
    seen: set[str] = set()
    todo = [
        op["requestBody"]["content"]["application/json"]["schema"]
        for _, _, op in operations(schema)
        if "application/json" in op.get("requestBody", {}).get("content", {})
    ]
    while todo:
        name = todo.pop()["$ref"].rsplit("/", 1)[1]
        if name in seen:
            continue
        seen.add(name)
        model = schema["components"]["schemas"][name]
        assert model["additionalProperties"] is False, name
        todo.extend(node for node in _walk(model["properties"]) if "$ref" in node)
    assert seen == {
        "CategoryIn",
        "ClassificationIn",
        "ClassificationPatch",
        "OverrideIn",
        "ExtractionIn",
        "ExtractionPatch",
        "FieldSpec",
        "ItemSpec",
        "WebhookIn",
    }


async def test_a_wrong_method_is_405_with_allow(client, schema):
    for path, item in schema["paths"].items():
        declared = {m.upper() for m in item if m in METHODS}
        url = path.replace("{", "").replace("}", "")
        for method in ("PUT", "TRACE"):
            response = await client.request(method, url)
            assert response.status_code == 405, (method, path)
            assert set(response.headers["allow"].split(", ")) == declared | {"OPTIONS"}, path
            assert response.json()["error"]["code"] == "method_not_allowed"
        allowed = (await client.options(url)).headers["allow"]
        assert set(allowed.split(", ")) == declared | {"OPTIONS"}, path


def _generate_client(schema: dict[str, Any], folder: Path) -> Path:
    """openapi-python-client's package for `schema`, in `folder`; any warning fails."""
    (folder / "openapi.json").write_text(json.dumps(schema))
    (folder / "config.yaml").write_text("post_hooks: []\n")
    package = folder / "docsort_client"
    subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none",
         "--path", folder / "openapi.json", "--config", folder / "config.yaml",
         "--output-path", package, "--fail-on-warning"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    return package


def test_a_generated_client_uploads_a_batch_and_reads_it_back(
    tmp_path, monkeypatch, settings, store, fake_model
):
    with serving(create_app(settings, store, fake_model)) as url:
        package = _generate_client(httpx.get(f"{url}/schema/openapi.json").json(), tmp_path)
        monkeypatch.syspath_prepend(str(package.parent))
        api = importlib.import_module("docsort_client.api.default")
        models = importlib.import_module("docsort_client.models")
        types = importlib.import_module("docsort_client.types")
        client = importlib.import_module("docsort_client").Client(base_url=url)

        def call(operation: str, **kwargs: Any) -> Any:
            module = importlib.import_module(f"{api.__name__}.{operation}")
            return module.sync(client=client, **kwargs)

        created = call(
            "v1_classifications_create", body=models.ClassificationIn.from_dict(INBOX)
        ).classification
        upload = models.V1ClassificationsClsIdBatchesUploadBody(
            files=[types.File(payload=BytesIO(INVOICE), file_name="a.txt")]
        )
        batch = call("v1_classifications_cls_id_batches_upload", cls_id=created.id, body=upload)
        assert isinstance(batch, models.BatchResponse), batch

        deadline = time.monotonic() + 30
        while True:
            shown = call(
                "v1_classifications_cls_id_batches_batch_id_show",
                cls_id=created.id,
                batch_id=batch.batch.id,
            )
            if shown.batch.status == "processed" or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert shown.batch.status == "processed"
    (file,) = shown.files
    assert (file.file_name, file.size_bytes) == ("a.txt", len(INVOICE))
    assert file.classified_category_name == "Invoice"
    assert file.model_verdict.confidence_sources is not None
