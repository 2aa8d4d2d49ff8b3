"""The README's flow through a client generated from docs/openapi.json.

Run by `cargo xtask contract` (xtask/src/contract.rs) against a real
`wasync serve`, with the generated package `wasync_client` on PYTHONPATH:
upload the `hello` component, put a job, wait for it, show it. Every call
goes through the generated code and its generated models, so a document
that does not describe what the server does fails here.

Usage: flow.py SERVER_URL HELLO_WASM OPENAPI_JSON
"""

import json
import sys
import uuid

from wasync_client import Client
from wasync_client.api.jobs import jobs_put, jobs_show, jobs_wait
from wasync_client.api.modules import modules_upload
from wasync_client.api.server import openapi_json
from wasync_client.models import JobSpec, JobStatus
from wasync_client.types import File


def check(condition, message):
    if not condition:
        print(f"flow.py: {message}", file=sys.stderr)
        sys.exit(1)


def main():
    url, hello_path, document_path = sys.argv[1:4]
    client = Client(base_url=url, raise_on_unexpected_status=True, timeout=60.0)

    # The server serves the checked-in document.
    served = openapi_json.sync_detailed(client=client)
    check(served.status_code == 200, f"GET /v1/openapi.json answered {served.status_code}")
    with open(document_path, encoding="utf-8") as f:
        check(
            json.loads(served.content) == json.load(f),
            "the served document differs from docs/openapi.json",
        )

    with open(hello_path, "rb") as f:
        uploaded = modules_upload.sync_detailed(
            client=client,
            body=File(payload=f, file_name="hello.wasm"),
            name="hello",
        )
    check(uploaded.status_code == 201, f"upload answered {uploaded.status_code}: {uploaded.content!r}")
    module = uploaded.parsed
    check(module.name == "hello", f"the module is named {module.name!r}")
    print(f"uploaded hello: {module.digest}")

    put = jobs_put.sync_detailed(
        client=client, body=JobSpec(module="hello", function="hello", args=[])
    )
    check(put.status_code == 201, f"put answered {put.status_code}: {put.content!r}")
    job = put.parsed
    # An idle server starts a put's job in the put's own commit.
    check(
        job.status in (JobStatus.PENDING, JobStatus.ACTIVE),
        f"a new job is {job.status}",
    )
    print(f"put job {job.id}")

    waited = None
    for _ in range(20):
        waited = jobs_wait.sync(id=job.id, client=client, timeout="10s")
        if waited.status == JobStatus.COMPLETED:
            break
    check(waited.status == JobStatus.COMPLETED, f"the job is still {waited.status}")
    print(f"job {job.id} completed with result {waited.result!r}")

    shown = jobs_show.sync(id=job.id, client=client)
    check(shown.id == job.id, "show answered another job")
    check(shown.status == JobStatus.COMPLETED, f"show says {shown.status}")
    check(not shown.failure, f"the job failed: {shown.failure}")
    check(shown.result == waited.result, "show and wait disagree on the result")
    check(len(shown.runs) == 1, f"{len(shown.runs)} runs recorded")
    print(f"show: {shown.status.value}, result {shown.result!r}, {len(shown.runs)} run")

    # An error is the documented error body.
    missing = jobs_show.sync_detailed(id=uuid.UUID(int=0), client=Client(base_url=url))
    check(missing.status_code == 404, f"an unknown job answered {missing.status_code}")
    check(missing.parsed.error.code == "not_found", f"its error is {missing.parsed}")
    print("flow.py: the generated client ran upload, put, wait and show")


if __name__ == "__main__":
    main()
