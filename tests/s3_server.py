"""moto's S3 server in its own process on loopback, with IAM enforced: a real S3 endpoint
for s3fs that also refuses what a policy denies (puts under any ``refused/`` prefix)."""

import json
import os
import socket
import subprocess
import sys
import time

import boto3

# Requests moto serves before it checks signatures and policies: the IAM set-up below.
SETUP_REQUESTS = 3
POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:*", "Resource": "*"},
    {"Effect": "Deny", "Action": "s3:PutObject", "Resource": "arn:aws:s3:::*/refused/*"}]}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MotoS3:
    """Start with :meth:`start`, stop with :meth:`stop`; ``options`` are s3fs's storage
    options (endpoint and the IAM user's key), ``env`` the same as AWS_* variables."""

    def start(self) -> "MotoS3":
        port = _free_port()
        self.endpoint = f"http://127.0.0.1:{port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            env=dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(SETUP_REQUESTS)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name="us-east-1",
                           aws_access_key_id="setup", aws_secret_access_key="setup")
        iam.create_user(UserName="skyspool")
        iam.put_user_policy(UserName="skyspool", PolicyName="archive",
                            PolicyDocument=json.dumps(POLICY))
        key = iam.create_access_key(UserName="skyspool")["AccessKey"]
        self.options = {"endpoint_url": self.endpoint, "key": key["AccessKeyId"],
                        "secret": key["SecretAccessKey"]}
        self.env = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"],
                    "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"],
                    "AWS_DEFAULT_REGION": "us-east-1", "AWS_ENDPOINT_URL": self.endpoint}
        return self

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
