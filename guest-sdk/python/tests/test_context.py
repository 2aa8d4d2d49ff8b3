"""The context interface through the fake."""

import pytest

import jobs_for_tests  # noqa: F401
import wasync_job
from wasync_job import ContextError, Request
from wasync_job.testing import FakeContext, JobFailed


def test_get_job_and_live_annotation():
    ctx = FakeContext(attempt=2)
    out = ctx.run("whoami", {})
    assert out.value == {"id": ctx.id, "function": "whoami", "args": {}, "attempt": 2}
    assert ctx.annotation("stage") == {"step": 1}


def test_put_with_every_request_field_and_await():
    ctx = FakeContext()
    out = ctx.run("delegate", ["Bob"])
    (put,) = ctx.puts
    assert out.awaited == put.id and out.value is None
    assert (put.function, put.args, put.queue, put.retry, put.quota_names) == (
        "greet", ["Bob"], "fast", "never", ["q"]
    )
    assert put.parent == ctx.id
    assert ctx.run_put(put).value == "Hello, Bob!"


def test_request_times_and_options():
    from datetime import datetime, timedelta, timezone

    r = Request(
        "f",
        {"x": 1},
        module="other",
        queue="q",
        begin_after=datetime(2030, 1, 1, tzinfo=timezone.utc),
        begin_by=timedelta(minutes=10),
        quota_names=["a", "b"],
        retry={"max_attempts": 3},
    ).wire()
    assert r.begin_after_ms == 1893456000000 and r.begin_by_ms == 600000
    assert (r.module, r.queue, r.args, r.retry) == ("other", "q", '{"x": 1}', '{"max_attempts": 3}')
    assert Request("f", [1], begin_after=10.5).wire().begin_after_ms == 10500


def test_composite_and_callback():
    ctx = FakeContext()
    out = ctx.run("hand_off", [5])
    (composite,) = ctx.composites
    assert out.awaited == composite.id and composite.kind == "parallel"
    assert [(p.function, p.args) for p in composite.parts] == [
        ("add", [5, 1]), ("add", {"a": 5, "b": 2})
    ]
    assert composite.postprocess.function == "total"
    (callback,) = ctx.callbacks
    assert (callback.job, callback.on, callback.request.args) == (
        composite.id, "failure", {"level": "high"}
    )
    # The postprocess gets the parts' outcomes appended.
    parts = [ctx.run_put(p).value for p in composite.parts]
    assert ctx.run("total", parts).value == 13


def test_add_part_with_callbacks():
    ctx = FakeContext()
    ctx.run("hand_off", [1])
    composite = ctx.composites[0].id
    part = ctx.run("extend", [composite]).value
    record = ctx.composites[0]
    assert record.parts[-1].id == part
    assert [(on, r.function) for on, r in record.part_callbacks[part]] == [("success", "greet")]
    with pytest.raises(JobFailed) as e:
        ctx.run("extend", [ctx.id])
    assert e.value.kind == "ContextError" and "not a composite" in e.value.message


def test_held_job_is_put_once_it_has_its_arguments():
    ctx = FakeContext()
    assert ctx.run("gather", [3]).value == 3
    (held,) = ctx.puts
    assert held.args == [0, 1, 2] and ctx.held_args(held.id) is None


def test_annotations_of_another_job_and_waits():
    ctx = FakeContext()
    other = ctx.add_job()
    ctx.run("mark_other", [other])
    assert ctx.annotation("seen", job=other) is True
    assert ctx.run("wait_for", ["seen", other]).value is True
    assert ctx.run("wait_for", ["missing"]).value == "absent"
    assert ctx.waits[-1] == (ctx.id, "missing", 500, False)
    with pytest.raises(JobFailed) as e:
        ctx.run("mark_other", ["0190a5c0-0000-7000-8000-ffffffffffff"])
    assert e.value.kind == "ContextError" and "does not exist" in e.value.message


def test_context_outside_a_job_says_so():
    with pytest.raises(RuntimeError, match="no job is running"):
        wasync_job.get_job()


def test_bad_requests():
    with pytest.raises(wasync_job.JobFailure, match="list or a dict"):
        Request("f", "x").wire()
    from wasync_job._backend import activate, deactivate

    token = activate(FakeContext())
    try:
        with pytest.raises(ValueError, match="on must be"):
            wasync_job.add_callback("x", "f", on="sometimes")
        with pytest.raises(ContextError, match="does not exist"):
            wasync_job.add_callback("0190a5c0-0000-7000-8000-ffffffffffff", "f")
    finally:
        deactivate(token)


def test_put_many_puts_each_request_in_order():
    ctx = FakeContext()
    out = ctx.run("fan_out", [3])
    assert out.value == [p.id for p in ctx.puts]
    assert [(p.function, p.args, p.parent) for p in ctx.puts] == [
        ("add", [0], ctx.id), ("add", [1], ctx.id), ("add", [2], ctx.id)
    ]
    assert ctx.run("fan_out", [0]).value == []
    assert ctx.run("put_these", [[["add", [1]], ["add", {"a": 2}]]]).value == [False, False]
    assert wasync_job.PUT_MANY_MAX == 10_000


def test_put_many_is_refused_as_the_host_refuses_it_and_puts_nothing():
    ctx = FakeContext()
    with pytest.raises(JobFailed) as e:
        ctx.run("fan_out", [wasync_job.PUT_MANY_MAX + 1])
    assert e.value.kind == "ContextError"
    assert "at most 10000 requests; this list holds 10001" in e.value.message
    with pytest.raises(JobFailed) as e:
        ctx.run("many_with_broadcast", [])
    assert "item 1: " in e.value.message and "broadcast" in e.value.message
    with pytest.raises(JobFailed) as e:
        ctx.run("put_these", [[["add", [1]], ["", []]]])
    assert "item 1: " in e.value.message
    with pytest.raises(JobFailed) as e:
        ctx.run("many_with_a_bad_request", [])
    assert e.value.kind == "bad-arguments" and e.value.permanent
    assert e.value.message.startswith("item 1: the arguments of `add`")
    assert ctx.puts == []
    assert len(ctx.run("fan_out", [wasync_job.PUT_MANY_MAX]).value) == wasync_job.PUT_MANY_MAX


def test_request_builders_broadcast_priority_unique_quota_keys():
    from wasync_job import Unique

    wire = Request(
        "f",
        [1],
        broadcast=True,
        priority=-2,
        quota_keys={"tenants": "acme"},
        unique=Unique(key="k", states=["pending"], period=60),
    ).wire()
    assert wire.broadcast is True and wire.priority == -2
    assert wire.quota_keys == (("tenants", "acme"),)
    assert (wire.unique.key, wire.unique.states, wire.unique.period_ms) == ("k", ("pending",), 60000)
    assert Request("f").wire().broadcast is False
    ctx = FakeContext()
    ctx.run("shout", ["add"])
    (put,) = ctx.puts
    assert (put.broadcast, put.priority, put.quota_keys) == (True, 3, {"tenants": "acme"})
