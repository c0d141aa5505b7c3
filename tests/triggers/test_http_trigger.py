"""``http.Trigger`` against a real HTTP server on loopback: a run only when responseCondition holds."""

from __future__ import annotations

import http.server
import json
import threading

import dagster as dg
import pytest

from kestra_dagster.compiler.definitions import build_definitions


@pytest.fixture()
def endpoint():
    state = {"status": 503, "body": {"id": None}}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            payload = json.dumps(state["body"]).encode()
            self.send_response(state["status"])
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Seen", "yes")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/status", state
    server.shutdown()
    server.server_close()


def test_http_trigger_fires_when_the_response_condition_holds(tmp_path, endpoint):
    url, state = endpoint
    (tmp_path / "watch.yaml").write_text(f"""
id: watch
namespace: demo.http
inputs:
  - {{id: job, type: STRING, defaults: none}}
tasks: [{{id: log, type: io.kestra.plugin.core.log.Log, message: "{{{{ trigger.body }}}}"}}]
triggers:
  - id: ready
    type: io.kestra.plugin.fs.http.Trigger
    uri: {url}
    interval: PT5S
    responseCondition: "{{{{ response.statusCode == 200 and json(response.body).id is not null }}}}"
    inputs:
      job: "{{{{ trigger.code }}}}"
""")
    sensor = build_definitions([tmp_path]).resolve_sensor_def("demo_http__watch__ready")
    assert sensor.minimum_interval_seconds == 5
    context = dg.build_sensor_context(instance=dg.DagsterInstance.ephemeral())
    assert "responseCondition is false (HTTP 503)" in sensor.evaluate_tick(context).skip_message
    state.update(status=200, body={"id": None})
    assert sensor.evaluate_tick(context).run_requests == []
    state["body"] = {"id": "build-42"}
    (request,) = sensor.evaluate_tick(context).run_requests
    trig = request.run_config["trigger"]
    assert trig["code"] == 200 and json.loads(trig["body"]) == {"id": "build-42"} and trig["headers"]["x-seen"] == ["yes"]
    assert request.run_config["inputs"] == {"job": "200"}
