"""Sanity of the harness: the server the other integration tests rely on is what they expect."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

TEXT_CONFIG = """
<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text">
    <Choice value="positive"/>
    <Choice value="negative"/>
  </Choices>
</View>
"""


def test_personal_access_token_works(ls_server: Any, ls_http: httpx.Client) -> None:
    response = ls_http.get("/api/current-user/whoami")

    assert response.status_code == 200, response.text
    if ls_server.username:
        assert response.json()["email"] == ls_server.username


def test_legacy_token_works(ls_server: Any) -> None:
    response = httpx.get(
        f"{ls_server.url}/api/current-user/whoami",
        headers={"Authorization": f"Token {ls_server.legacy_token}"},
    )

    assert response.status_code == 200, response.text


def test_pat_is_a_refresh_token_not_a_bearer_token(ls_server: Any) -> None:
    response = httpx.get(
        f"{ls_server.url}/api/current-user/whoami",
        headers={"Authorization": f"Bearer {ls_server.pat}"},
    )

    assert response.status_code == 401


def test_make_project(make_project: Any, ls_http: httpx.Client) -> None:
    project_id = make_project(TEXT_CONFIG)

    project = ls_http.get(f"/api/projects/{project_id}").json()
    assert 3 <= len(project["title"]) <= 50
    assert 'name="sentiment"' in project["label_config"]
    assert project["task_number"] == 0


def test_two_task_import_lands(make_project: Any, ls_http: httpx.Client) -> None:
    project_id = make_project(TEXT_CONFIG, title="harness import")
    tasks = [
        {"data": {"text": "good"}},
        {
            "data": {"text": "bad"},
            "predictions": [
                {
                    "model_version": "harness",
                    "score": 0.5,
                    "result": [
                        {
                            "from_name": "sentiment",
                            "to_name": "text",
                            "type": "choices",
                            "value": {"choices": ["negative"]},
                        }
                    ],
                }
            ],
        },
    ]

    answer = ls_http.post(
        f"/api/projects/{project_id}/import", params={"return_task_ids": "true"}, json=tasks
    )

    assert answer.status_code == 201, answer.text
    assert answer.json()["task_count"] == 2
    assert answer.json()["prediction_count"] == 1
    assert len(answer.json()["task_ids"]) == 2
    listed = ls_http.get(
        "/api/tasks", params={"project": project_id, "page_size": 10, "fields": "all"}
    ).json()
    assert listed["total"] == 2
    assert sorted(task["data"]["text"] for task in listed["tasks"]) == ["bad", "good"]
    assert listed["total_predictions"] == 1


def test_server_is_recorded_and_reusable(
    ls_server: Any, ls_state_dir: Path | None, lsserver: ModuleType
) -> None:
    if ls_state_dir is None:
        pytest.skip("an external server is in use")

    assert lsserver.running(ls_state_dir) == ls_server
    env_file = (ls_state_dir / "env").read_text()
    assert f"export LABEL_STUDIO_URL={ls_server.url}\n" in env_file
    assert "export LABEL_STUDIO_API_KEY=" in env_file
