"""Real backends on loopback for the publisher tests: a moto S3 server and a JSON API.

Both can go down and come back on the same port, as a backend does in an outage.
"""

from __future__ import annotations

import http.server
import json
import threading

import boto3
from moto.server import ThreadedMotoServer

BUCKET = "alerts"
CREDENTIALS = {"key": "testing", "secret": "testing"}


class S3Server:
    """moto's S3 server in a thread of this process (buckets survive a stop and start)."""

    def __init__(self):
        self.port = 0
        self.server = None
        self.start()
        self.client().create_bucket(Bucket=BUCKET)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self.server.start()
        self.port = self.server.get_host_and_port()[1]

    def stop(self) -> None:
        """Down: connections are refused (the port is closed, not merely silent)."""
        self.server.stop()
        self.server._server.server_close()

    def client(self):
        return boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1",
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def objects(self, prefix: str) -> dict[str, int]:
        """Key -> size of every object under ``prefix`` (moto's buckets are shared by all the
        servers of one process)."""
        listing = self.client().list_objects_v2(Bucket=BUCKET, Prefix=prefix)
        return {item["Key"]: item["Size"] for item in listing.get("Contents", [])}

    def storage_options(self) -> dict:
        # One botocore attempt per s3fs try: an outage shows as a failure quickly.
        return {**CREDENTIALS, "endpoint_url": self.endpoint,
                "client_kwargs": {"region_name": "us-east-1"},
                "config_kwargs": {"retries": {"max_attempts": 1}, "connect_timeout": 5,
                                  "read_timeout": 20}}


class ApiServer:
    """A JSON API that answers 503 to the first ``fail_first`` posts and while ``down``."""

    def __init__(self, fail_first: int = 0):
        self.fail_first = fail_first
        self.down = False
        self.requests: list[dict] = []  # every post: status answered, headers, body
        self.lock = threading.Lock()
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with api.lock:
                    failing = api.down or len(api.requests) < api.fail_first
                    status = 503 if failing else 201
                    api.requests.append({"status": status, "headers": dict(self.headers),
                                         "path": self.path, "body": body})
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ok": not failing}).encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1/alerts"

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.requests if r["status"] == 201]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class TreasureMapApi:
    """The Treasure Map API's endpoints that its listeners use, on loopback, checking every
    body against the Treasure Map client's (gwtm-api's) models and the token in its header.

    ``errors`` lists every refused request (422: a body the client's model refuses; 401: a
    wrong token); ``down`` answers 503 to everything.
    """

    GALAXY_LIST_KEYS = {"graceid", "timesent_stamp", "groupname", "reference", "request_doi", "galaxies"}
    GALAXY_KEYS = {"ra", "dec", "score", "rank", "name", "info"}
    ICECUBE_KEYS = {"icecube_notice", "icecube_notice_coinc_events"}

    def __init__(self, token: str):
        import inspect

        import gwtm_api

        self.token = token
        self.down = False
        self.alerts: list[dict] = []  # as stored now (del_test_alerts removes test ones)
        self.posted: list[dict] = []  # every alert accepted
        self.galaxy_lists: dict[int, dict] = {}
        self.icecube: list[dict] = []
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self.errors: list[str] = []
        self.lock = threading.Lock()
        alert_fields = set(inspect.signature(gwtm_api.Alert.__init__).parameters) - {"self", "kwdict"}
        api = self

        def check_alert(body: dict) -> None:
            unknown = set(body) - alert_fields
            assert not unknown, f"fields the client's Alert has not: {sorted(unknown)}"
            gwtm_api.Alert(kwdict=body)  # asserts on a value of the wrong type

        def check_galaxies(body: dict) -> None:
            assert set(body) == api.GALAXY_LIST_KEYS, sorted(body)
            assert all(set(g) == api.GALAXY_KEYS for g in body["galaxies"])

        def check_icecube(body: dict) -> None:
            assert set(body) == api.ICECUBE_KEYS, sorted(body)

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self, status: int, payload) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str):
                path, _, query = self.path.partition("?")
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with api.lock:
                    api.calls.append((method, path))
                    if api.down:
                        return self._answer(503, {"message": "down"})
                    if self.headers.get("api_token") != api.token:
                        api.errors.append(f"{method} {path}: token {self.headers.get('api_token')!r}")
                        return self._answer(401, {"message": "bad token"})
                    try:
                        return self._answer(200, api.handle(method, path, query, body, {
                            "/post_alert": check_alert, "/event_galaxies": check_galaxies,
                            "/post_icecube_notice": check_icecube}))
                    except (AssertionError, KeyError, ValueError) as exc:
                        api.errors.append(f"{method} {path}: {exc}")
                        return self._answer(422, {"message": str(exc)})

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/api/v1"

    def handle(self, method: str, path: str, query: str, body, checks: dict):
        import urllib.parse

        path = path.removeprefix("/api/v1")
        if method == "POST" and path in checks:
            checks[path](body)
        if (method, path) == ("POST", "/post_alert"):
            self.alerts.append(body)
            self.posted.append(body)
            return {**body, "id": len(self.posted)}
        if (method, path) == ("GET", "/event_galaxies"):
            asked = dict(urllib.parse.parse_qsl(query))
            return [{"listid": n, **{k: v for k, v in g.items() if k != "galaxies"}}
                    for n, g in self.galaxy_lists.items()
                    if g["graceid"] == asked["graceid"] and g["groupname"] == asked["groupname"]]
        if (method, path) == ("POST", "/event_galaxies"):
            self.galaxy_lists[max(self.galaxy_lists, default=0) + 1] = body
            return {"message": "posted"}
        if (method, path) == ("POST", "/remove_event_galaxies"):
            del self.galaxy_lists[body["listid"]]
            return {"message": "removed"}
        if (method, path) == ("POST", "/del_test_alerts"):
            self.alerts = [a for a in self.alerts if a.get("role") != "test"]
            return {"message": "deleted"}
        if (method, path) == ("POST", "/post_icecube_notice"):
            self.icecube.append(body)
            return {"message": "posted"}
        raise KeyError(f"no endpoint {method} {path}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
