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
