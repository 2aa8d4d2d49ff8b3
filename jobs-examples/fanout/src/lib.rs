//! `fanout`: zc.async's "returning jobs": a job puts another and makes its
//! result its own, in a pair, a chain, and a fan.

#![deny(missing_docs)]

use serde_json::Value;
use wasync_guest::{
    Await, Error, JobId, JobRequest, Outcome, PutAnswer, Unique, job, put, put_many,
    set_live_annotation,
};

/// Puts `second_job(21)` and returns its result: 42.
#[job]
pub fn first_job() -> Result<Await, Error> {
    let id = put(JobRequest::new("second_job").arg(21))?;
    Ok(Await(id))
}

/// `value * 2`.
#[job]
pub fn second_job(value: i64) -> i64 {
    value.wrapping_mul(2)
}

/// A chain of returned jobs: `value` when `depth` is 0, else the result of
/// `chain(depth - 1, value)`, put and awaited. (Returning an [`Outcome`]
/// chooses between a value and an await at run time.)
#[job]
pub fn chain(depth: u32, value: Value) -> Result<Outcome, Error> {
    if depth == 0 {
        return Ok(Outcome::Value(value.to_string()));
    }
    let id = put(JobRequest::new("chain").arg(depth - 1).arg(value))?;
    Ok(Outcome::AwaitJob(id))
}

/// Puts `n` jobs `second_job(i)` for `i` in `0..n`, records their ids in
/// annotation `children`, and returns the result of the last one
/// (`2 * (n - 1)`). `n` must be at least 1.
#[job]
pub fn fanout(n: u32) -> Result<Await, Error> {
    if n == 0 {
        return Err(Error::permanent(
            "bad-arguments",
            "fanout: n must be at least 1",
        ));
    }
    let children = (0..n)
        .map(|i| put(JobRequest::new("second_job").arg(i)))
        .collect::<Result<Vec<JobId>, Error>>()?;
    set_live_annotation("children", &children)?;
    let last = children.last().cloned().expect("n >= 1");
    Ok(Await(last))
}

/// [`fanout`] in one call: puts `second_job(i)` for `i` in `0..n` with
/// one `put_many` (one transaction, one commit) and returns their ids, in
/// order. Over the host's maximum (`PUT_MANY_MAX`, 10000) the host refuses
/// the whole list and this job fails with that error (kind `context`).
#[job]
pub fn fanout_many(n: u32) -> Result<Vec<JobId>, Error> {
    let requests = (0..n).map(|i| JobRequest::new("second_job").arg(i));
    Ok(put_many(requests)?.into_iter().map(|a| a.id).collect())
}

/// Puts, in one `put_many`, `n` requests `second_job(value)` unique under
/// `key`, then a plain `second_job(value)`, and returns the answers: the
/// first unique request is inserted (unless a job of the queue holds
/// `key` already), the others answer with that job as duplicates.
#[job]
pub fn put_many_unique(key: String, n: u32, value: i64) -> Result<Vec<PutAnswer>, Error> {
    let unique = Unique {
        key: Some(key),
        ..Unique::default()
    };
    let mut requests: Vec<JobRequest> = (0..n)
        .map(|_| {
            JobRequest::new("second_job")
                .arg(value)
                .unique(unique.clone())
        })
        .collect();
    requests.push(JobRequest::new("second_job").arg(value));
    put_many(requests)
}

/// Puts `function(args)` into `queue` (default: this job's queue),
/// counting against the quotas named `quotas` (zc.async's `quota_names`),
/// and returns the new job's id. A quota the queue does not define makes
/// the put fail: an error of kind `context` naming it.
#[job]
pub fn put_with_quotas(
    function: String,
    args: Value,
    quotas: Vec<String>,
    queue: Option<String>,
) -> Result<JobId, Error> {
    let mut request = JobRequest::new(function).json_args(args);
    for quota in quotas {
        request = request.quota(quota);
    }
    if let Some(queue) = queue {
        request = request.queue(queue);
    }
    put(request)
}

/// Puts `function(args)` as a broadcast (one copy on every live
/// dispatcher with an agent for this queue) and returns the broadcast's
/// result: the map dispatcher → outcome of its copies.
#[job]
pub fn broadcast_put(function: String, args: Value) -> Result<Await, Error> {
    let id = put(JobRequest::new(function).json_args(args).broadcast())?;
    Ok(Await(id))
}

/// Puts `module`'s `function(args)` with `key` in partitioned quota
/// `quota` of this job's queue, and returns its id (issue 18 §3: a guest's
/// put names its key).
#[job]
pub fn quota_keyed_put(
    module: String,
    function: String,
    args: Value,
    quota: String,
    key: String,
) -> Result<JobId, Error> {
    put(JobRequest::new(function)
        .module(module)
        .json_args(args)
        .quota_key(quota, key))
}

/// Puts `second_job(value)` twice as a unique job (`key`, or the key
/// derived from module, function and arguments when `None`) with
/// `priority`, and returns both ids: the same id twice, since the second
/// put finds the key held by the first job (held up to and while
/// `completed`, so even a first job that already ran holds it).
#[job]
pub fn unique_put_twice(
    key: Option<String>,
    value: i64,
    priority: i32,
) -> Result<Vec<JobId>, Error> {
    let request = || {
        JobRequest::new("second_job")
            .arg(value)
            .priority(priority)
            .unique(Unique {
                key: key.clone(),
                states: [
                    "new",
                    "pending",
                    "assigned",
                    "active",
                    "callbacks",
                    "completed",
                ]
                .map(String::from)
                .to_vec(),
                ..Unique::default()
            })
    };
    Ok(vec![put(request())?, put(request())?])
}

wasync_guest::export_jobs!(
    first_job,
    second_job,
    chain,
    fanout,
    fanout_many,
    put_many_unique,
    put_with_quotas,
    broadcast_put,
    quota_keyed_put,
    unique_put_twice
);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wasync_guest::testing::FakeContext;

    use super::jobs;

    #[test]
    fn put_with_quotas_names_them() {
        let ctx = FakeContext::new();
        let out = ctx
            .run(
                jobs(),
                "put_with_quotas",
                json!(["pause", [1], ["test", "index"], "serial"]),
            )
            .unwrap();
        let put = &ctx.puts()[0];
        assert_eq!(out.value(), Some(json!(put.id)));
        assert_eq!(put.quota_names, ["test", "index"]);
        assert_eq!((put.function.as_str(), &put.args), ("pause", &json!([1])));
        assert_eq!(put.queue.as_deref(), Some("serial"));
    }

    #[test]
    fn quota_keyed_put_names_its_key() {
        let ctx = FakeContext::new();
        let out = ctx
            .run(
                jobs(),
                "quota_keyed_put",
                json!(["hello", "sleep", [5], "tenants", "acme"]),
            )
            .unwrap();
        let put = &ctx.puts()[0];
        assert_eq!(out.value(), Some(json!(put.id)));
        assert_eq!(put.quota_keys, [("tenants".to_owned(), "acme".to_owned())]);
        assert_eq!(put.module.as_deref(), Some("hello"));
    }

    #[test]
    fn first_job_awaits_second_job() {
        let ctx = FakeContext::new();
        let out = ctx.run(jobs(), "first_job", json!([])).unwrap();
        let puts = ctx.puts();
        assert_eq!(puts.len(), 1);
        assert_eq!(out.awaited(), Some(&puts[0].id));
        assert_eq!(puts[0].function, "second_job");
        assert_eq!(puts[0].args, json!([21]));
        assert_eq!(
            (puts[0].module.as_ref(), puts[0].queue.as_ref()),
            (None, None)
        );
        let second = ctx.run_put(jobs(), &puts[0]).unwrap();
        assert_eq!(second.value(), Some(json!(42)));
    }

    #[test]
    fn chain_follows_to_the_end() {
        let ctx = FakeContext::new();
        let mut out = ctx.run(jobs(), "chain", json!([3, {"v": 1}])).unwrap();
        let mut links = 0;
        while let Some(next) = out.awaited().cloned() {
            let put = ctx.puts().into_iter().find(|p| p.id == next).unwrap();
            out = ctx.run_put(jobs(), &put).unwrap();
            links += 1;
        }
        assert_eq!(links, 3);
        assert_eq!(out.value(), Some(json!({"v": 1})));
        let depths: Vec<_> = ctx.puts().iter().map(|p| p.args[0].clone()).collect();
        assert_eq!(depths, [json!(2), json!(1), json!(0)]);
    }

    #[test]
    fn fanout_puts_n_children_and_awaits_the_last() {
        let ctx = FakeContext::new();
        let out = ctx.run(jobs(), "fanout", json!([4])).unwrap();
        let puts = ctx.puts();
        assert_eq!(puts.len(), 4);
        let ids: Vec<_> = puts.iter().map(|p| json!(p.id)).collect();
        assert_eq!(ctx.annotation("children"), Some(json!(ids)));
        assert_eq!(out.awaited(), Some(&puts[3].id));
        for (i, put) in puts.iter().enumerate() {
            assert_eq!(put.args, json!([i]));
        }
        let last = ctx.run_put(jobs(), &puts[3]).unwrap();
        assert_eq!(last.value(), Some(json!(6)));
        let e = ctx.run(jobs(), "fanout", json!([0])).unwrap_err();
        assert_eq!(e.kind, "bad-arguments");
        assert!(e.permanent);
    }

    #[test]
    fn fanout_many_puts_n_children_in_one_call() {
        let ctx = FakeContext::new();
        let out = ctx.run(jobs(), "fanout_many", json!([4])).unwrap();
        let puts = ctx.puts();
        let ids: Vec<_> = puts.iter().map(|p| json!(p.id)).collect();
        assert_eq!(out.value(), Some(json!(ids)));
        for (i, put) in puts.iter().enumerate() {
            assert_eq!(
                (put.function.as_str(), &put.args),
                ("second_job", &json!([i]))
            );
        }
        let over = ctx.run(jobs(), "fanout_many", json!([10_001])).unwrap_err();
        assert_eq!(over.kind, "context");
        assert!(over.message.contains("at most 10000"), "{}", over.message);
        assert_eq!(ctx.puts().len(), 4, "nothing of a refused list");
    }

    #[test]
    fn put_many_unique_asks_for_uniqueness_on_all_but_the_last() {
        let ctx = FakeContext::new();
        let out = ctx
            .run(jobs(), "put_many_unique", json!(["k", 3, 5]))
            .unwrap();
        let puts = ctx.puts();
        assert_eq!(
            puts.len(),
            4,
            "the fake inserts every one: the host decides"
        );
        let keys: Vec<_> = puts
            .iter()
            .map(|p| p.unique.as_ref().and_then(|u| u.key.clone()))
            .collect();
        let k = Some("k".to_owned());
        assert_eq!(keys, [k.clone(), k.clone(), k, None]);
        let answers = out.value().unwrap();
        assert_eq!(answers.as_array().unwrap().len(), 4);
        assert_eq!(answers[0]["duplicate"], false);
    }

    #[test]
    fn broadcast_put_puts_a_broadcast_and_awaits_it() {
        let ctx = FakeContext::new();
        let out = ctx
            .run(jobs(), "broadcast_put", json!(["second_job", [4]]))
            .unwrap();
        let puts = ctx.puts();
        assert_eq!(puts.len(), 1);
        assert!(puts[0].broadcast);
        assert_eq!(
            (puts[0].function.as_str(), &puts[0].args),
            ("second_job", &json!([4]))
        );
        assert_eq!(out.awaited(), Some(&puts[0].id));
    }

    #[test]
    fn unique_put_twice_asks_for_uniqueness_and_priority() {
        let ctx = FakeContext::new();
        ctx.run(jobs(), "unique_put_twice", json!(["k", 5, 3]))
            .unwrap();
        let puts = ctx.puts();
        assert_eq!(puts.len(), 2, "the fake inserts both: the host decides");
        for put in &puts {
            assert_eq!(put.priority, 3);
            assert_eq!(put.unique.as_ref().unwrap().key.as_deref(), Some("k"));
            assert_eq!(put.args, json!([5]));
        }
    }
}
