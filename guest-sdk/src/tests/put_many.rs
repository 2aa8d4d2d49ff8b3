//! `put_many` natively: the answers in order, the fake's checks as the
//! host's (the maximum, a bad or broadcast request named by index, all or
//! none), and a request's own mistakes named by index before any call.

use serde_json::json;

use crate::testing::FakeContext;
use crate::{Error, JobId, JobRequest, PUT_MANY_MAX, PutAnswer, job, put_many};

/// Puts `square(i)` for `i` in `0..n` in one call; returns the ids.
#[job]
fn fan_out(n: u32) -> Result<Vec<JobId>, Error> {
    let answers = put_many((0..n).map(|i| JobRequest::new("square").arg(i)))?;
    Ok(answers.into_iter().map(|a| a.id).collect())
}

/// Puts the requests `[function, args]` given, in one call.
#[job]
fn put_these(requests: Vec<(String, serde_json::Value)>) -> Result<Vec<bool>, Error> {
    let requests = requests
        .into_iter()
        .map(|(function, args)| JobRequest::new(function).json_args(args));
    Ok(put_many(requests)?
        .into_iter()
        .map(|a: PutAnswer| a.duplicate)
        .collect())
}

/// A list whose second request mixes its arguments.
#[job]
fn mixed() -> Result<Vec<PutAnswer>, Error> {
    put_many([
        JobRequest::new("square").arg(1),
        JobRequest::new("square").arg(1).named("x", 2),
    ])
}

/// A list with a broadcast.
#[job]
fn with_broadcast() -> Result<Vec<PutAnswer>, Error> {
    put_many([
        JobRequest::new("square"),
        JobRequest::new("square").broadcast(),
    ])
}

crate::export_jobs!(fan_out, put_these, mixed, with_broadcast);

#[test]
fn put_many_puts_each_request_in_order() {
    let ctx = FakeContext::new();
    let out = ctx.run(jobs(), "fan_out", json!([3])).unwrap();
    let puts = ctx.puts();
    let ids: Vec<_> = puts.iter().map(|p| json!(p.id)).collect();
    assert_eq!(out.value(), Some(json!(ids)));
    for (i, put) in puts.iter().enumerate() {
        assert_eq!((put.function.as_str(), &put.args), ("square", &json!([i])));
        assert_eq!(put.parent, ctx.id());
    }
    let none = ctx.run(jobs(), "fan_out", json!([0])).unwrap();
    assert_eq!(none.value(), Some(json!([])));
    assert_eq!(ctx.puts().len(), 3);
}

#[test]
fn the_fake_refuses_what_the_host_refuses_and_puts_nothing() {
    let ctx = FakeContext::new();
    let over = ctx
        .run(jobs(), "fan_out", json!([PUT_MANY_MAX + 1]))
        .unwrap_err();
    assert_eq!(over.kind, "context");
    assert!(
        over.message
            .starts_with("put_many: put-many takes at most 10000 requests; this list holds 10001"),
        "{}",
        over.message
    );
    let bad = ctx
        .run(
            jobs(),
            "put_these",
            json!([[["square", [1]], ["", []], ["square", [3]]]]),
        )
        .unwrap_err();
    assert_eq!(bad.kind, "context");
    assert!(
        bad.message.contains("item 1: the function name is empty"),
        "{}",
        bad.message
    );
    let broadcast = ctx.run(jobs(), "with_broadcast", json!([])).unwrap_err();
    assert!(
        broadcast.message.contains("item 1: ") && broadcast.message.contains("broadcast"),
        "{}",
        broadcast.message
    );
    assert!(ctx.puts().is_empty(), "all or none");
    let at_max = ctx.run(jobs(), "fan_out", json!([PUT_MANY_MAX])).unwrap();
    assert_eq!(
        at_max.value().unwrap().as_array().unwrap().len(),
        PUT_MANY_MAX
    );
}

#[test]
fn a_request_built_wrong_is_named_before_any_call() {
    let ctx = FakeContext::new();
    let e = ctx.run(jobs(), "mixed", json!([])).unwrap_err();
    assert_eq!(e.kind, "bad-arguments");
    assert!(e.permanent);
    assert!(
        e.message.starts_with("item 1: put `square`"),
        "{}",
        e.message
    );
    assert!(ctx.puts().is_empty());
    let fine = ctx
        .run(
            jobs(),
            "put_these",
            json!([[["square", [1]], ["square", {"x": 2}]]]),
        )
        .unwrap();
    assert_eq!(fine.value(), Some(json!([false, false])));
}
