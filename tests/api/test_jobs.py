"""Light answers: GET /jobs lists summaries a page at a time, the whole job (and its result) is
at /jobs/{id}; a training's answer carries a summary of its loss history unless asked for the
whole, which the version's card always keeps."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.utils import tiny_spec, train_body, wait_for_job

# Enough epochs for a summary to be shorter than the whole; a Dense net trains them in a blink.
LONG = tiny_spec(architecture="dense", units=2, epochs=150, window={"length": 3})


def started(client: TestClient, name: str, **overrides: Any) -> str:
    answer = client.post("/train", json={**train_body(name, **overrides), "async": True})
    assert answer.status_code == 202, answer.text
    return str(answer.json()["job_id"])


def test_the_list_is_summaries_a_page_at_a_time(client: TestClient) -> None:
    ids = [started(client, f"listed-{i}") for i in range(3)]
    finished = [wait_for_job(client, job_id) for job_id in ids]
    assert {job["status"] for job in finished} == {"succeeded"}
    page = client.get("/jobs", params={"limit": 2, "status": "succeeded"})
    assert page.status_code == 200
    body = page.json()
    assert body["limit"] == 2
    assert body["offset"] == 0
    assert body["count"] >= 3
    assert [job["job_id"] for job in body["data"]] == ids[::-1][:2]  # newest first
    newest = body["data"][0]
    assert "result" not in newest
    assert newest["version"] == finished[-1]["result"]["version"]
    assert newest["url"] == f"/jobs/{ids[-1]}"
    after = client.get("/jobs", params={"limit": 1, "offset": 2, "status": "succeeded"})
    assert [job["job_id"] for job in after.json()["data"]] == [ids[0]]
    assert all(job["status"] == "succeeded" for job in body["data"])


def test_the_list_refuses_a_bad_page(client: TestClient) -> None:
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"status": "done"}):
        answer = client.get("/jobs", params=params)
        assert answer.status_code == 422, params
        assert answer.json()["detail"][0]["loc"] == ["query", next(iter(params))]


def test_a_training_answers_a_summary_of_its_history_by_default(client: TestClient) -> None:
    answer = client.post("/train", json=train_body("summarised", spec=LONG))
    assert answer.status_code == 201, answer.text
    result = answer.json()
    history = result["history"]
    assert result["epochs_run"] == 150
    assert len(history["loss"]) == len(history["epochs"]) <= 100
    assert history["epochs"][0] == 1
    assert history["epochs"][-1] == 150
    assert len(history["val_loss"] or history["loss"]) == len(history["epochs"])
    # The card keeps every epoch.
    card = client.get(f"/models/summarised/versions/{result['version']}").json()["card"]
    assert len(card["history"]["loss"]) == 150
    assert card["history"]["epochs"] is None
    assert history["loss"] == [card["history"]["loss"][e - 1] for e in history["epochs"]]


def test_the_history_can_be_whole_or_left_out(client: TestClient) -> None:
    whole = client.post("/train", json=train_body("whole", spec=LONG, history="full"))
    assert whole.status_code == 201, whole.text
    assert len(whole.json()["history"]["loss"]) == 150
    none = client.post("/train", json=train_body("bare", spec=tiny_spec(), history="none"))
    assert none.status_code == 201, none.text
    assert none.json()["history"] is None
    job_id = started(client, "polled", spec=LONG)
    assert wait_for_job(client, job_id)["result"]["history"]["epochs"][-1] == 150
    for detail, length in (("full", 150), ("summary", None)):
        answer = client.get(f"/jobs/{job_id}", params={"history": detail})
        loss = answer.json()["result"]["history"]["loss"]
        assert len(loss) == (length or len(loss))
        assert len(loss) <= 100 or detail == "full"
    assert (
        client.get(f"/jobs/{job_id}", params={"history": "none"}).json()["result"]["history"]
        is None
    )
    assert client.get(f"/jobs/{job_id}", params={"history": "all"}).status_code == 422
