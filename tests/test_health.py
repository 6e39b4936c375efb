from litestar.testing import AsyncTestClient

from app.api import create_app
from app.model import ModelClient

from .conftest import BASE_URL


async def test_health_ok_with_database_and_model(client):
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == {"ok": True}
    assert body["model"]["ok"] is True


async def test_health_is_503_when_the_model_server_is_down(settings, store):
    model = ModelClient("http://127.0.0.1:9", "qwen2.5-coder:1.5b", timeout=2)
    app = create_app(settings, store, model, run_worker=False)
    async with AsyncTestClient(app=app, base_url=BASE_URL) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["model"]["ok"] is False and "127.0.0.1:9" in body["model"]["error"]


async def test_openapi_schema_is_served(client):
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "/v1/classifications/{cls_id}/batches" in paths
    assert "/v1/classifications/{cls_id}/files/{file_id}/redo" in paths
