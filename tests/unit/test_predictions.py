"""The predictions pipeline, piece by piece and whole, against a scripted server.

The scripted server (`FakeLabelStudio`, behind httpx.MockTransport) keeps tasks and
predictions the way Label Studio 1.23.2 does for the calls lsimport makes, including the bulk
endpoint's habit of skipping predictions it dislikes (here: any whose choices include "drop")
and answering only how many it created. The real server is in tests/integration.
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from lsimport.check.labelconfig import parse_label_config
from lsimport.check.rules import TaskChecker
from lsimport.errors import AuthError, UsageError
from lsimport.model import Finding, PredictionSummary
from lsimport.read.stream import Source, iter_source
from lsimport.report.failures import FailureReport
from lsimport.report.progress import NoProgress
from lsimport.report.reporters import render_predictions
from lsimport.send.client import LabelStudioClient, RetryPolicy
from lsimport.send.predictions import (
    KnownPredictions,
    PredictionImporter,
    PredictionSender,
    ProjectTasks,
    check_prediction,
    fingerprint,
    iter_prediction_records,
    parse_prediction,
)
from lsimport.settings import PREDICTION_BATCH_SIZE as DEFAULT_BATCH_SIZE
from lsimport.settings import Connection, PredictionSettings, parse_match_on

BASE = "http://127.0.0.1:9"
LEGACY = "0123456789abcdef0123456789abcdef01234567"
PROJECT = 7
CONFIG = """
<View>
  <Image name="image" value="$image"/>
  <Choices name="label" toName="image">
    <Choice value="cat"/><Choice value="dog"/><Choice value="drop"/>
  </Choices>
</View>
"""


def region(label: str) -> dict[str, Any]:
    return {
        "from_name": "label",
        "to_name": "image",
        "type": "choices",
        "value": {"choices": [label]},
    }


class FakeLabelStudio:
    """Tasks and predictions of one project, served the way Label Studio 1.23.2 serves them."""

    def __init__(self, images: list[str], *, bulk: bool = True) -> None:
        self.tasks: dict[int, dict[str, Any]] = {
            100 + i: {"image": image} for i, image in enumerate(images)
        }
        self.predictions: list[dict[str, Any]] = []
        self.bulk = bulk
        self.calls: list[tuple[str, str]] = []
        self.bulk_bodies: list[list[dict[str, Any]]] = []
        self.fail_next_bulk_with_500_after_saving = False
        self.model_version = ""

    def handler(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        self.calls.append((request.method, path))
        if path == f"/api/projects/{PROJECT}/" and request.method == "GET":
            return httpx.Response(200, json={"id": PROJECT, "label_config": CONFIG})
        if path == f"/api/projects/{PROJECT}/" and request.method == "PATCH":
            wanted = orjson.loads(request.content)["model_version"]
            if not any(p["model_version"] == wanted for p in self.predictions):
                return httpx.Response(400, json={"model_version": ["does not exist"]})
            self.model_version = wanted
            return httpx.Response(200, json={"id": PROJECT, "model_version": wanted})
        if path == "/api/tasks/":
            return self._tasks(request)
        if path == "/api/predictions/" and request.method == "GET":
            params = request.url.params
            found = [
                p
                for p in self.predictions
                if ("task" not in params or p["task"] == int(params["task"]))
                and ("project" not in params or int(params["project"]) == PROJECT)
            ]
            return httpx.Response(200, json=found)
        if path == "/api/predictions/" and request.method == "POST":
            item = orjson.loads(request.content)
            saved = self._save(item, default_version="")
            return httpx.Response(201, json=saved)
        if path == f"/api/projects/{PROJECT}/import/predictions" and self.bulk:
            return self._bulk(orjson.loads(request.content))
        return httpx.Response(404, text="<html>404 | Label Studio</html>")

    def _tasks(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        size = int(request.url.params["page_size"])
        ids = sorted(self.tasks)
        chunk = ids[(page - 1) * size : page * size]
        if not chunk and page > 1:
            return httpx.Response(404, json={"detail": "Invalid page."})
        tasks = [{"id": i, "data": self.tasks[i]} for i in chunk]
        return httpx.Response(200, json={"total": len(ids), "tasks": tasks})

    def _save(self, item: dict[str, Any], *, default_version: str) -> dict[str, Any]:
        saved = {
            "id": len(self.predictions) + 1,
            "task": item["task"],
            "result": item["result"],
            "score": item.get("score"),
            "model_version": item.get("model_version", default_version),
        }
        self.predictions.append(saved)
        return saved

    @staticmethod
    def _validation_error(message: str) -> httpx.Response:
        body = {
            "status_code": 400,
            "detail": "Validation error",
            "validation_errors": {"non_field_errors": [message]},
        }
        return httpx.Response(400, json=body)

    def _bulk(self, items: list[dict[str, Any]]) -> httpx.Response:
        self.bulk_bodies.append(items)
        for item in items:
            if item["task"] not in self.tasks:
                message = (
                    f'{item} contains invalid "task" field: corresponding task ID couldn\'t be '
                    f"retrieved from project bench (id={PROJECT}) tasks"
                )
                return self._validation_error(message)
            if item.get("score") == REFUSED_SCORE:
                return self._validation_error("Error at item: score refused")
        created = 0
        for item in items:
            if any("drop" in r["value"]["choices"] for r in item["result"]):
                continue  # skipped, as the real endpoint skips what its own check refuses
            self._save(item, default_version="undefined")
            created += 1
        if self.fail_next_bulk_with_500_after_saving:
            self.fail_next_bulk_with_500_after_saving = False
            return httpx.Response(500, text="Internal Server Error")
        return httpx.Response(201, json={"created": created})


REFUSED_SCORE = 0.125  # the scripted server refuses a whole batch holding this score
IMAGES = [f"s3://b/{i}.jpg" for i in range(6)] + ["s3://b/twin.jpg", "s3://b/twin.jpg"]


@pytest.fixture
def server() -> FakeLabelStudio:
    return FakeLabelStudio(IMAGES)


@pytest.fixture
def client(server: FakeLabelStudio) -> Iterator[LabelStudioClient]:
    with LabelStudioClient(
        BASE,
        LEGACY,
        transport=httpx.MockTransport(server.handler),
        retry=RetryPolicy(attempts=1),
        sleep=lambda s: None,
    ) as c:
        yield c


CHECKER = TaskChecker(parse_label_config(CONFIG))


def run(
    client: LabelStudioClient,
    items: list[dict[str, Any]],
    *,
    match_on: tuple[str, ...] | None = None,
    batch_size: int = 1000,
    model_version: str | None = None,
) -> tuple[PredictionSummary, FailureReport]:
    failures = FailureReport(None)
    tasks = ProjectTasks.load(client, PROJECT, match_on)
    importer = PredictionImporter(
        PredictionSender(client, PROJECT, task_ids=tasks.task_ids),
        tasks,
        KnownPredictions.load(client, PROJECT),
        CHECKER,
        failures=failures,
        progress=NoProgress(),
        model_version=model_version,
        batch_size=batch_size,
        clock=lambda: 0.0,
    )
    return importer.run(iter_prediction_records(items)), failures


def stored(server: FakeLabelStudio) -> list[tuple[int, str, list[str]]]:
    return sorted(
        (p["task"], p["model_version"], p["result"][0]["value"]["choices"])
        for p in server.predictions
    )


def counts(summary: PredictionSummary) -> dict[str, Any]:
    d = summary.as_dict()
    assert d.pop("duration_s") == 0.0
    assert d.pop("duplicates_removed") == 0
    return d


# --- parsing ----------------------------------------------------------------------------------


def test_parse_a_record_that_names_its_task() -> None:
    parsed = parse_prediction({"data": {"task": 5, "result": [region("cat")], "score": 0.5}})

    assert parsed.task == 5
    assert parsed.prediction == {"result": [region("cat")], "score": 0.5}
    assert parsed.data == {}
    assert parsed.findings == []


def test_parse_a_record_with_data_beside_its_result() -> None:
    obj = {"data": {"image": "s3://b/1.jpg"}, "result": [region("cat")], "model_version": "v2"}

    parsed = parse_prediction(obj)

    assert parsed.task is None
    assert parsed.data == {"image": "s3://b/1.jpg"}
    assert parsed.prediction == {"result": [region("cat")], "model_version": "v2"}


def test_parse_a_flat_record_keeps_its_other_keys_as_data() -> None:
    parsed = parse_prediction({"data": {"image": "s3://b/1.jpg", "result": [region("dog")]}})

    assert parsed.data == {"image": "s3://b/1.jpg"}
    assert parsed.prediction == {"result": [region("dog")]}


def test_parse_csv_cells_which_are_all_strings() -> None:
    cells = {
        "task": "12",
        "result": orjson.dumps([region("cat")]).decode(),
        "score": "0.25",
        "model_version": "",
    }

    parsed = parse_prediction({"data": cells})

    assert parsed.task == 12
    assert parsed.prediction == {"result": [region("cat")], "score": 0.25}
    assert parsed.findings == []


def test_parse_reports_cells_that_are_not_what_they_should_be() -> None:
    parsed = parse_prediction({"data": {"task": "twelve", "result": "[oops", "score": "high"}})

    assert [(f.code, f.pointer) for f in parsed.findings] == [
        ("read.json", "/result"),
        ("schema.score", "/score"),
        ("predict.task", "/task"),
    ]
    assert parsed.task is None
    assert parsed.prediction == {}


def test_model_version_option_replaces_the_records_own() -> None:
    parsed = parse_prediction(
        {"task": 1, "result": [], "model_version": "old"}, model_version="new"
    )

    assert parsed.prediction == {"result": [], "model_version": "new"}


@pytest.mark.parametrize(
    ("option", "path"),
    [("data.image", ("image",)), ("image", ("image",)), ("data.meta.id", ("meta", "id"))],
)
def test_parse_match_on(option: str, path: tuple[str, ...]) -> None:
    assert parse_match_on(option) == path


@pytest.mark.parametrize("option", ["data.", "", "data..x"])
def test_parse_match_on_refuses_what_names_no_field(option: str) -> None:
    with pytest.raises(UsageError, match="does not name a data field"):
        parse_match_on(option)


def test_setting_the_project_model_version_needs_one() -> None:
    with pytest.raises(UsageError, match="--set-project-model-version needs --model-version"):
        PredictionSettings(
            paths=("p.jsonl",),
            project=1,
            connection=Connection(BASE, LEGACY),
            set_project_model_version=True,
        )


# --- checking ---------------------------------------------------------------------------------


def test_a_valid_prediction_has_no_findings_even_without_task_data() -> None:
    assert check_prediction(CHECKER, {"result": [region("cat")], "score": 0.9}) == []


def test_findings_point_into_the_prediction() -> None:
    found = check_prediction(CHECKER, {"result": [region("lion")], "score": 2})

    assert [(f.code, f.pointer) for f in found] == [
        ("schema.score", "/score"),
        ("config.label", "/result/0/value/choices"),
    ]


def test_a_prediction_without_result_is_an_error() -> None:
    assert check_prediction(CHECKER, {"score": 0.5}) == [
        Finding(
            "error",
            "schema.prediction",
            "prediction has no `result` (a list of regions)",
            "/result",
        )
    ]


# --- the identity of a prediction -------------------------------------------------------------


def test_fingerprint_ignores_key_order_score_and_the_servers_spelling_of_no_version() -> None:
    a = fingerprint(1, None, [{"value": {"x": 10.0, "y": 2.5}, "type": "rectangle"}])
    b = fingerprint(1, "undefined", [{"type": "rectangle", "value": {"y": 2.5, "x": 10}}])
    c = fingerprint(1, "", [{"type": "rectangle", "value": {"y": 2.5, "x": 10}}])

    assert a == b == c


@pytest.mark.parametrize(
    ("task", "version", "label"), [(2, "v1", "cat"), (1, "v2", "cat"), (1, "v1", "dog")]
)
def test_fingerprint_tells_task_version_and_result_apart(
    task: int, version: str, label: str
) -> None:
    assert fingerprint(task, version, [region(label)]) != fingerprint(1, "v1", [region("cat")])


# --- matching ---------------------------------------------------------------------------------


def test_records_are_matched_by_task_id_or_data_field(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items: list[dict[str, Any]] = [
        {"task": 100, "result": [region("cat")]},
        {"data": {"image": "s3://b/1.jpg"}, "result": [region("dog")]},
        {"image": "s3://b/2.jpg", "result": [region("cat")]},
    ]

    summary, failures = run(client, items, match_on=("image",), model_version="v1")

    assert counts(summary) == {
        "records": 3,
        "invalid": 0,
        "unmatched": 0,
        "predictions_created": 3,
        "failed": 0,
        "skipped": 0,
        "file_errors": 0,
    }
    assert stored(server) == [(100, "v1", ["cat"]), (101, "v1", ["dog"]), (102, "v1", ["cat"])]
    assert failures.count == 0
    assert server.bulk_bodies == [
        [
            {"task": 100, "result": [region("cat")], "model_version": "v1"},
            {"task": 101, "result": [region("dog")], "model_version": "v1"},
            {"task": 102, "result": [region("cat")], "model_version": "v1"},
        ]
    ]


def test_unmatched_ambiguous_and_taskless_records_are_reported(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items: list[dict[str, Any]] = [
        {"image": "s3://b/none.jpg", "result": [region("cat")]},
        {"image": "s3://b/twin.jpg", "result": [region("cat")]},
        {"task": 999, "result": [region("cat")]},
        {"result": [region("cat")]},
    ]

    summary, failures = run(client, items, match_on=("image",))

    assert (summary.unmatched, summary.invalid, summary.predictions_created) == (3, 1, 0)
    assert [(f.record, f.stage, f.messages) for f in failures.first] == [
        (1, "match", ["no task of project 7 has data.image = 's3://b/none.jpg'"]),
        (
            2,
            "match",
            [
                "data.image = 's3://b/twin.jpg' matches 2 tasks (ids 106, 107): match on a "
                "field that is unique, or name the task by `task`"
            ],
        ),
        (3, "match", ["task 999 is not in project 7"]),
        (
            4,
            "validate",
            [
                "record has no data.image to match on (and no `task` id): give it `image`, "
                "flat or under `data` [predict.no-task]"
            ],
        ),
    ]
    assert failures.first[0].task == {"image": "s3://b/none.jpg", "result": [region("cat")]}
    assert server.bulk_bodies == []


def test_csv_numbers_match_numeric_task_data(server: FakeLabelStudio) -> None:
    server.tasks = {100: {"frame": 17}, 101: {"frame": 18}}
    with LabelStudioClient(BASE, LEGACY, transport=httpx.MockTransport(server.handler)) as c:
        tasks = ProjectTasks.load(c, PROJECT, ("frame",))

    assert tasks.locate(parse_prediction({"data": {"frame": "18", "result": "[]"}})) == 101


def test_invalid_predictions_are_reported_and_not_sent(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [{"task": 100, "result": [region("lion")]}, {"task": 101, "result": [region("cat")]}]

    summary, failures = run(client, items)

    assert (summary.invalid, summary.predictions_created) == (1, 1)
    assert [(f.record, f.stage) for f in failures.first] == [(1, "validate")]
    assert failures.first[0].messages == [
        "/result/0/value/choices: 'lion' not among the labels of 'label' ('cat', 'dog', "
        "'drop'): Label Studio's check refuses it, so /import/predictions drops the prediction "
        "[config.label]"
    ]
    assert [i["task"] for b in server.bulk_bodies for i in b] == [101]


# --- sending ----------------------------------------------------------------------------------


def test_predictions_the_bulk_endpoint_skips_are_found_and_reported(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [
        {"task": 100, "result": [region("cat")]},
        {"task": 101, "result": [region("drop")]},
        {"task": 102, "result": [region("dog")]},
    ]

    summary, failures = run(client, items)

    assert (summary.predictions_created, summary.failed) == (2, 1)
    assert [(f.record, f.stage, f.task) for f in failures.first] == [
        (2, "server", {"task": 101, "result": [region("drop")]})
    ]
    assert (
        failures.first[0]
        .messages[0]
        .startswith("the bulk endpoint created 2 of the 3 predictions sent and skipped this one")
    )
    # three tasks: read back one by one, not the whole project
    assert [c for c in server.calls if c[1] == "/api/predictions/"] == [
        ("GET", "/api/predictions/")
    ] * 4


def test_rerunning_skips_what_is_already_attached(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [
        {"task": 100, "result": [region("cat")], "score": 0.1},
        {"task": 101, "result": [region("dog")]},
    ]
    run(client, items, model_version="v1")

    again = [dict(items[0], score=0.9), items[1], {"task": 101, "result": [region("cat")]}]
    summary, _ = run(client, again, model_version="v1")

    assert (summary.skipped, summary.predictions_created) == (2, 1)
    assert stored(server) == [(100, "v1", ["cat"]), (101, "v1", ["cat"]), (101, "v1", ["dog"])]


def test_the_same_prediction_twice_in_one_input_is_sent_once(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [{"task": 100, "result": [region("cat")]}] * 2

    summary, _ = run(client, items)

    assert (summary.skipped, summary.predictions_created) == (1, 1)
    assert len(server.predictions) == 1


def test_batches_hold_at_most_batch_size_predictions(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [{"task": 100 + i, "result": [region("cat")]} for i in range(5)]

    summary, _ = run(client, items, batch_size=2)

    assert summary.predictions_created == 5
    assert [len(b) for b in server.bulk_bodies] == [2, 2, 1]


def test_tasks_are_not_read_up_front_when_records_name_them_by_id(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [{"task": 100 + i, "result": [region("cat")]} for i in range(3)]

    summary, _ = run(client, items)

    assert summary.predictions_created == 3
    assert ("GET", "/api/tasks/") not in server.calls


def test_a_task_the_project_lacks_is_learnt_from_the_server_once(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [
        {"task": 100, "result": [region("cat")]},
        {"task": 555, "result": [region("cat")]},
        {"task": 101, "result": [region("cat")]},
        {"task": 556, "result": [region("cat")]},
        {"task": 102, "result": [region("cat")]},
    ]

    summary, failures = run(client, items, batch_size=3)

    assert counts(summary) == {
        "records": 5,
        "invalid": 0,
        "unmatched": 2,
        "predictions_created": 3,
        "failed": 0,
        "skipped": 0,
        "file_errors": 0,
    }
    assert [(f.record, f.stage, f.messages) for f in failures.first] == [
        (2, "match", ["task 555 is not in project 7"]),
        (4, "match", ["task 556 is not in project 7"]),
    ]
    assert failures.first[0].task == {"task": 555, "result": [region("cat")]}
    # the refused batch, its known part again; then 556 is caught before sending
    assert [[i["task"] for i in b] for b in server.bulk_bodies] == [
        [100, 555, 101],
        [100, 101],
        [102],
    ]
    assert server.calls.count(("GET", "/api/tasks/")) == 1
    assert stored(server) == [
        (100, "undefined", ["cat"]),
        (101, "undefined", ["cat"]),
        (102, "undefined", ["cat"]),
    ]


def test_a_batch_refused_for_one_prediction_is_split_to_isolate_it(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    items = [{"task": 100 + i, "result": [region("cat")]} for i in range(5)]
    items[2]["score"] = REFUSED_SCORE

    summary, failures = run(client, items)

    assert (summary.predictions_created, summary.failed) == (4, 1)
    assert [(f.record, f.stage) for f in failures.first] == [(3, "server")]
    assert failures.first[0].messages == ["the server refused it: Error at item: score refused"]
    assert [len(b) for b in server.bulk_bodies] == [5, 2, 3, 1, 2]


def test_a_lost_answer_is_settled_by_reading_back_without_sending_twice(
    client: LabelStudioClient, server: FakeLabelStudio
) -> None:
    server.fail_next_bulk_with_500_after_saving = True
    items = [{"task": 100 + i, "result": [region("cat")]} for i in range(3)]

    summary, _ = run(client, items)

    assert (summary.predictions_created, summary.failed) == (3, 0)
    assert len(server.bulk_bodies) == 1
    assert len(server.predictions) == 3


def test_without_a_bulk_endpoint_each_prediction_is_posted(server: FakeLabelStudio) -> None:
    server.bulk = False
    items = [{"task": 100 + i, "result": [region("cat")]} for i in range(3)]
    with LabelStudioClient(BASE, LEGACY, transport=httpx.MockTransport(server.handler)) as c:
        summary, _ = run(c, items, model_version="m")

    assert (summary.predictions_created, summary.bulk) == (3, False)
    assert server.calls.count(("POST", "/api/predictions/")) == 3
    assert stored(server) == [(100, "m", ["cat"]), (101, "m", ["cat"]), (102, "m", ["cat"])]


# --- reading files and rendering --------------------------------------------------------------


def test_a_csv_file_of_predictions(client: LabelStudioClient, server: FakeLabelStudio) -> None:
    cat = orjson.dumps([region("cat")]).decode().replace('"', '""')
    text = f'image,result,score\ns3://b/3.jpg,"{cat}",0.75\n'
    records = iter_source(Source("-", "<stdin>"), fmt="csv", stdin=io.BytesIO(text.encode()))
    failures = FailureReport(None)
    tasks = ProjectTasks.load(client, PROJECT, ("image",))
    importer = PredictionImporter(
        PredictionSender(client, PROJECT, task_ids=tasks.task_ids),
        tasks,
        KnownPredictions(),
        CHECKER,
        failures=failures,
        progress=NoProgress(),
        clock=lambda: 0.0,
    )

    summary = importer.run(records)

    assert (summary.records, summary.predictions_created) == (1, 1)
    assert server.bulk_bodies == [[{"task": 103, "result": [region("cat")], "score": 0.75}]]


def test_the_text_summary() -> None:
    summary = PredictionSummary(
        records=5, invalid=1, unmatched=1, predictions_created=2, skipped=1, duration_s=2.0
    )
    out, err = io.StringIO(), io.StringIO()

    render_predictions(summary, FailureReport(None), "text", out, err, project=3)

    assert out.getvalue() == (
        "2 prediction(s) attached in 2.0 s (1/s); 5 record(s) read, 1 skipped (already "
        "attached), 1 invalid, 1 unmatched, 0 failed by the server\n"
    )
    assert err.getvalue() == ""


def test_the_json_summary_has_upload_s_shape() -> None:
    summary = PredictionSummary(records=2, predictions_created=2, duration_s=0.5)
    out = io.StringIO()

    render_predictions(summary, FailureReport(None), "json", out, io.StringIO(), project=3)

    assert orjson.loads(out.getvalue()) == {
        "records": 2,
        "invalid": 0,
        "unmatched": 0,
        "predictions_created": 2,
        "failed": 0,
        "skipped": 0,
        "duplicates_removed": 0,
        "duration_s": 0.5,
        "file_errors": 0,
    }


def test_a_server_that_stops_answering_stops_sending_and_the_rest_is_reported(
    server: FakeLabelStudio,
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/import/predictions"):
            return httpx.Response(401, json={"detail": "Invalid token."})
        return server.handler(request)

    items = [{"task": 100 + i, "result": [region("cat")]} for i in range(5)]
    failures = FailureReport(None)
    with LabelStudioClient(BASE, LEGACY, transport=httpx.MockTransport(handler)) as c:
        tasks = ProjectTasks.load(c, PROJECT, None)
        importer = PredictionImporter(
            PredictionSender(c, PROJECT, task_ids=tasks.task_ids),
            tasks,
            KnownPredictions(),
            CHECKER,
            failures=failures,
            progress=NoProgress(),
            batch_size=2,
            clock=lambda: 0.0,
        )
        summary = importer.run(iter_prediction_records(items))

    assert isinstance(importer.fatal, AuthError)
    # The rest is read on and reported, so the failure report holds every record not in.
    assert (summary.records, summary.failed, summary.predictions_created) == (5, 5, 0)
    assert failures.first[0].messages[0].startswith("not confirmed, the server stopped answering")
    assert failures.count == 5


def test_the_command_line_default_batch_size_is_the_library_s() -> None:
    from lsimport import cli

    default = inspect.signature(cli.predictions).parameters["batch_size"].default
    assert default == DEFAULT_BATCH_SIZE == PredictionSettings.batch_size


def test_the_failure_report_feeds_back_in(
    client: LabelStudioClient, server: FakeLabelStudio, tmp_path: Path
) -> None:
    lion = {"image": "s3://b/4.jpg", "result": [region("lion")], "score": 0.5}
    report = FailureReport(tmp_path / "failed.jsonl")
    tasks = ProjectTasks.load(client, PROJECT, ("image",))
    PredictionImporter(
        PredictionSender(client, PROJECT, task_ids=tasks.task_ids),
        tasks,
        KnownPredictions(),
        CHECKER,
        failures=report,
        progress=NoProgress(),
        clock=lambda: 0.0,
    ).run(iter_prediction_records([lion]))
    report.close()

    [line] = [orjson.loads(x) for x in (tmp_path / "failed.jsonl").read_bytes().splitlines()]
    fixed = line | {"task": {**line["task"], "result": [region("dog")]}}
    (tmp_path / "fixed.jsonl").write_bytes(orjson.dumps(fixed) + b"\n")
    [record] = iter_source(Source(str(tmp_path / "fixed.jsonl"), "fixed.jsonl"))

    assert line["task"] == lion
    parsed = parse_prediction(record.task or {})
    assert (parsed.data, parsed.prediction) == (
        {"image": "s3://b/4.jpg"},
        {"result": [region("dog")], "score": 0.5},
    )


def test_strict_makes_warnings_errors(client: LabelStudioClient, server: FakeLabelStudio) -> None:
    box_config = parse_label_config(
        '<View><Image name="image" value="$image"/><RectangleLabels name="box" toName="image">'
        '<Label value="cat"/></RectangleLabels></View>'
    )
    no_size = {
        "from_name": "box",
        "to_name": "image",
        "type": "rectanglelabels",
        "value": {"x": 1, "y": 1, "width": 5, "height": 5, "rectanglelabels": ["cat"]},
    }
    checker = TaskChecker(box_config)

    lenient = check_prediction(checker, {"result": [no_size]})

    assert [(f.severity, f.code, f.pointer) for f in lenient] == [
        ("warning", "config.original-size", "/result/0/original_width")
    ]
    failures = FailureReport(None)
    importer = PredictionImporter(
        PredictionSender(client, PROJECT, task_ids=lambda: set()),
        ProjectTasks(PROJECT, None),
        KnownPredictions(),
        checker,
        failures=failures,
        progress=NoProgress(),
        strict=True,
        clock=lambda: 0.0,
    )
    summary = importer.run(iter_prediction_records([{"task": 100, "result": [no_size]}]))
    assert (summary.invalid, summary.predictions_created) == (1, 0)
    assert failures.first[0].messages == [
        "/result/0/original_width: image region without original_width/original_height: "
        "Label Studio cannot convert it to pixels on export [config.original-size]"
    ]
