"""The usage jobs natively, through the SDK's fake context (the real
queue runs them in tests/e2e/polyglot)."""

import pytest

import usage  # noqa: F401  (registers the jobs)
from wasync_job.testing import FakeContext, JobFailed


def test_callbacks_scribble_and_handle():
    ctx = FakeContext()
    assert ctx.run("scribble", ["200 OK"]).value == "200 OK: SCRIBBLED"
    failure = {"kind": "guest-error", "message": "m", "guest_kind": "NameError"}
    assert ctx.run("handle_name_errors", [failure]).value == "I handled a name error"
    with pytest.raises(JobFailed):
        ctx.run("handle_name_errors", [{"kind": "trap"}])
    with pytest.raises(JobFailed) as e:
        ctx.run("bad_bad_function", [])
    assert e.value.kind == "NameError"
    assert ctx.run("network_call_with_callback", []).value == "200 OK"
    (cb,) = ctx.callbacks
    assert (cb.job, cb.on, cb.request.function) == (ctx.id, "success", "scribble")


def test_main_job_collects_into_a_held_postprocess():
    ctx = FakeContext()
    out = ctx.run("main_job", [])
    held = out.awaited
    assert len(ctx.callbacks) == 3
    for cb, result in zip(ctx.callbacks, [7, 14, 21]):
        ctx.run("callback", [cb.request.args[0], result])
    assert ctx.held_args(held) is None
    post = next(p for p in ctx.puts if p.id == held)
    assert ctx.run_put(post).value == 42


def test_first_job_extends_its_composite():
    ctx = FakeContext()
    composite = ctx.run("composite_from_inside", ["serial"]).awaited
    assert len(ctx.composites[0].parts) == 3
    assert ctx.run("first_job", [composite]).value == "first"
    assert len(ctx.composites[0].parts) == 4
    ctx.run("schedule_third", [composite, "second"])
    assert len(ctx.composites[0].parts) == 5
    assert ctx.run("tagged_sum", {"extra_info": "foo", "outcomes": [7, 14, 21]}).value == ["foo", 42]
    assert ctx.run("sum", {"outcomes": [1, 2]}).value == 3
