"""Arguments, results and errors: the dispatch the component's `run` uses."""

import json

import pytest

import jobs_for_tests  # noqa: F401  (registers the job functions)
from wasync_job import registered
from wasync_job._dispatch import Failure, call
from wasync_job.testing import FakeContext, JobFailed


def run(function, args):
    return FakeContext().run(function, args)


def failure(function, args) -> JobFailed:
    with pytest.raises(JobFailed) as info:
        run(function, args)
    return info.value


def test_positional_and_named_arguments():
    assert run("greet", ["Ada"]).value == "Hello, Ada!"
    assert run("greet", {"name": "Ada", "greeting": "Hi"}).value == "Hi, Ada!"
    assert run("greet", ["Ada", "Hey"]).value == "Hey, Ada!"
    assert run("add", [2, 3]).value == 5
    assert run("add", {"a": 2}).value == 3


def test_optional_parameters_may_be_left_out():
    assert run("maybe", []).value == [None, 2]
    assert run("maybe", {"count": 5}).value == [None, 5]
    assert run("maybe", ["x"]).value == ["x", 2]


def test_variadic_and_renamed_functions():
    assert run("sum-all", [1, 2, 3.5]).value == 6.5
    assert "sum-all" in registered()


def test_bad_arguments_name_the_parameter():
    e = failure("add", [1, "two"])
    assert (e.kind, e.permanent) == ("bad-arguments", True)
    assert "argument `b`" in e.message and "int" in e.message
    assert "missing argument `a`" in failure("add", {"b": 1}).message
    assert "no parameter `c`" in failure("add", {"a": 1, "c": 2}).message
    assert "at most 2 arguments, got 3" in failure("add", [1, 2, 3]).message
    assert "argument `a`" in failure("add", [True]).message  # a bool is not an int
    assert "argument `names`" in failure("tags", [["a", 1], {}]).message
    assert "argument `extra`" in failure("tags", [["a"], {"x": "1"}]).message
    assert run("tags", [["a", "b"], {"x": 3}]).value == 5


def test_arguments_must_be_an_array_or_object():
    result = call("add", "5")
    assert isinstance(result, Failure) and result.kind == "bad-arguments"
    result = call("add", "[1,")
    assert isinstance(result, Failure) and "not JSON" in result.message


def test_unknown_function_lists_the_module_functions():
    e = failure("nope", [])
    assert (e.kind, e.permanent) == ("unknown-function", True)
    assert "no job function `nope`" in e.message and "greet" in e.message


def test_exception_becomes_a_job_error_with_traceback():
    e = failure("boom", [1])
    assert e.kind == "ZeroDivisionError"
    assert e.message == "division by zero"
    assert not e.permanent
    assert "Traceback" in e.detail and "in boom" in e.detail
    assert "_dispatch.py" not in e.detail  # the SDK's own frame is left out


def test_permanent_errors():
    e = failure("bad_order", ["12-x"])
    assert (e.kind, e.permanent) == ("BadOrder", True)
    e = failure("refuse", [])
    assert (e.kind, e.message, e.detail, e.permanent) == ("quota", "over quota", "3 of 3 used", False)


def test_result_must_be_json():
    e = failure("not_json", [])
    assert e.kind == "bad-result" and "cannot be turned into JSON" in e.message


def test_values_are_json_text():
    result = call("greet", json.dumps(["Ada"]))
    assert result.value_json == '"Hello, Ada!"'


def test_functions_stay_plain_functions():
    assert jobs_for_tests.add(1, 2) == 3


def test_two_functions_with_one_name_are_refused():
    from wasync_job import job

    with pytest.raises(ValueError, match="two job functions are named 'greet'"):

        @job
        def greet():  # noqa: F811
            pass
