"""GET /healthz tells an operator whether Redis and the database are reachable, with the exact
answers the README documents (section Production)."""

from __future__ import annotations

from bot import create_app
from tests.redis_server import closed_port, redis_server


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"redis": "ok", "database": "ok", "status": "ok"}


def test_database_down_is_degraded_texts_still_answered(settings_overrides):
    down = f"postgresql://postgres@127.0.0.1:{closed_port()}/surveybot"
    app = create_app({**settings_overrides, "DATABASE_URL": down})
    try:
        response = app.test_client().get("/healthz")
    finally:
        app.extensions["surveybot"].redis.close()
    assert response.status_code == 200
    assert response.get_json() == {"redis": "ok", "database": "unreachable", "status": "degraded"}


def test_redis_down_is_down_and_a_503(settings_overrides, tmp_path):
    with redis_server(tmp_path) as server:
        app = create_app({**settings_overrides, "REDIS_URL": server.url})
        client = app.test_client()
        assert client.get("/healthz").get_json()["status"] == "ok"
        server.stop()
        response = client.get("/healthz")
    app.extensions["surveybot"].redis.close()
    assert response.status_code == 503
    assert response.get_json() == {"redis": "unreachable", "database": "ok", "status": "down"}


def test_both_down_is_down(settings_overrides):
    down = {
        "REDIS_URL": f"redis://127.0.0.1:{closed_port()}/0",
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:{closed_port()}/surveybot",
    }
    app = create_app({**settings_overrides, **down})
    response = app.test_client().get("/healthz")
    app.extensions["surveybot"].redis.close()
    assert response.status_code == 503
    assert response.get_json() == {
        "redis": "unreachable",
        "database": "unreachable",
        "status": "down",
    }
