"""GET /healthz tells an operator whether Redis and the database are reachable."""

from __future__ import annotations

from bot import create_app


def test_healthy(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"redis": "ok", "database": "ok", "status": "ok"}


def test_database_down_still_answers_texts(settings_overrides):
    app = create_app({**settings_overrides, "DATABASE_URL": "postgresql://x@127.0.0.1:1/none"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"redis": "ok", "database": "unreachable", "status": "degraded"}
    app.extensions["surveybot"].redis.close()


def test_redis_down_is_a_503(settings_overrides):
    app = create_app({**settings_overrides, "REDIS_URL": "redis://127.0.0.1:1/0"})
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json()["redis"] == "unreachable"
