//! `usage`: the jobs of zc.async's usage document from "Callbacks" to
//! "Parallelized Work", as WebAssembly jobs: a network call and a string
//! scribbler, a bad function and its failure handler, the hand-written
//! parallel example (callbacks collecting results into a held postprocess
//! job), and the parts of the `serial` / `parallel` examples and their
//! footnotes.

#![deny(missing_docs)]

use serde_json::Value;
use wasync_guest::{
    Await, CallbackOn, CompositeKind, Error, JobId, JobRequest, add_callback, add_part,
    append_args, job, put, put_composite, put_held,
};

// ----- Callbacks -----

/// zc.async's `imaginaryNetworkCall`: `"200 OK"`.
#[job]
pub fn imaginary_network_call() -> String {
    "200 OK".to_owned()
}

/// `I_scribble_on_strings`: `"<string>: SCRIBBLED"`.
#[job]
pub fn scribble(string: String) -> String {
    format!("{string}: SCRIBBLED")
}

/// `I_am_a_bad_bad_function`: fails with a `NameError`.
#[job]
pub fn bad_bad_function() -> Result<i64, Error> {
    Err(Error::new("NameError", "global name 'foo' is not defined"))
}

/// `I_handle_NameErrors`: handles a failure of guest kind `NameError`
/// (`failure.trap(NameError)`); any other outcome fails again with it.
#[job]
pub fn handle_name_errors(failure: Value) -> Result<String, Error> {
    if failure["guest_kind"] == "NameError" {
        Ok("I handled a name error".to_owned())
    } else {
        Err(Error::new(
            "Untrapped",
            format!("not a NameError: {failure}"),
        ))
    }
}

/// The network call with its scribbler added from inside the job, on
/// itself, for success only: returns `"200 OK"`.
#[job]
pub fn network_call_with_callback() -> Result<String, Error> {
    add_callback(&job().id, CallbackOn::Success, JobRequest::new("scribble"))?;
    Ok("200 OK".to_owned())
}

// ----- Returning jobs: the hand-written parallel example -----

/// `job_A`: 7.
#[job]
pub fn job_a() -> i64 {
    7
}

/// `job_B`: 14.
#[job]
pub fn job_b() -> i64 {
    14
}

/// `job_C`: 21.
#[job]
pub fn job_c() -> i64 {
    21
}

/// The document's `postprocess(*results)`: their sum.
#[job]
pub fn postprocess(a: i64, b: i64, c: i64) -> i64 {
    a + b + c
}

/// The document's `callback(job, result)`: appends `result` to the held
/// postprocess job's arguments and puts it once all three are in.
#[job]
pub fn callback(job: String, result: i64) -> Result<u32, Error> {
    append_args(&JobId::new(job), &[result], 3)
}

/// The document's `main_job`: holds a postprocess job, puts `job_A`,
/// `job_B` and `job_C` each with a `callback` that collects its result
/// into it, and returns the postprocess job: its result, 42, becomes this
/// job's.
#[job]
pub fn main_job() -> Result<Await, Error> {
    let postprocess = put_held(JobRequest::new("postprocess"))?;
    for function in ["job_a", "job_b", "job_c"] {
        let part = put(JobRequest::new(function))?;
        let collect = JobRequest::new("callback").arg(postprocess.as_str());
        add_callback(&part, CallbackOn::Always, collect)?;
    }
    Ok(Await(postprocess))
}

// ----- serial and parallel -----

/// `job_zero`: 0.
#[job]
pub fn job_zero() -> i64 {
    0
}

/// `job_one`: 1.
#[job]
pub fn job_one() -> i64 {
    1
}

/// `job_two`: 2.
#[job]
pub fn job_two() -> i64 {
    2
}

/// A postprocess that returns the parts' outcomes as they came (named
/// argument `outcomes`): `[j.result for j in jobs]`.
#[job]
pub fn results(outcomes: Vec<Value>) -> Vec<Value> {
    outcomes
}

/// A postprocess that sums the parts' results (named `outcomes`).
#[job]
pub fn sum(outcomes: Vec<i64>) -> i64 {
    outcomes.iter().sum()
}

/// The footnotes' partial postprocess: `(extra_info, results)`.
#[job]
pub fn tagged(extra_info: String, outcomes: Vec<Value>) -> (String, Vec<Value>) {
    (extra_info, outcomes)
}

/// The footnotes' partial postprocess of the parallel example:
/// `(extra_info, sum of results)`.
#[job]
pub fn tagged_sum(extra_info: String, outcomes: Vec<i64>) -> (String, i64) {
    (extra_info, outcomes.iter().sum())
}

/// The footnotes' `first_job(main_job)`: adds `second_job` to the
/// composite `main_job`, with a callback `schedule_third` added with it
/// (before that part begins), and returns `"first"`.
#[job]
pub fn first_job(main_job: String) -> Result<String, Error> {
    let composite = JobId::new(main_job.clone());
    let schedule = JobRequest::new("schedule_third").arg(main_job);
    let second = JobRequest::new("second_job");
    add_part(&composite, second, vec![(CallbackOn::Always, schedule)])?;
    Ok("first".to_owned())
}

/// `second_job`: `"second"`.
#[job]
pub fn second_job() -> String {
    "second".to_owned()
}

/// `third_job`: `"third"`.
#[job]
pub fn third_job() -> String {
    "third".to_owned()
}

/// `schedule_third(main_job, ignored)`: adds `third_job` to the composite.
#[job]
pub fn schedule_third(main_job: String, ignored: Value) -> Result<(), Error> {
    let _ = ignored;
    add_part(
        &JobId::new(main_job),
        JobRequest::new("third_job"),
        Vec::new(),
    )?;
    Ok(())
}

/// zc.async's `parallel(job_A, job_B, job_C, postprocess=...)` put from
/// inside a job (`kind` `"serial"` or `"parallel"`), awaited: 42.
#[job]
pub fn composite_from_inside(kind: String) -> Result<Await, Error> {
    let kind = match kind.as_str() {
        "serial" => CompositeKind::Serial,
        "parallel" => CompositeKind::Parallel,
        other => return Err(Error::permanent("bad-arguments", format!("kind `{other}`"))),
    };
    let parts = ["job_a", "job_b", "job_c"].map(JobRequest::new).to_vec();
    let id = put_composite(
        kind,
        parts,
        JobRequest::new("sum").json_args(serde_json::json!({})),
    )?;
    Ok(Await(id))
}

wasync_guest::export_jobs!(
    imaginary_network_call,
    scribble,
    bad_bad_function,
    handle_name_errors,
    network_call_with_callback,
    job_a,
    job_b,
    job_c,
    postprocess,
    callback,
    main_job,
    job_zero,
    job_one,
    job_two,
    results,
    sum,
    tagged,
    tagged_sum,
    first_job,
    second_job,
    third_job,
    schedule_third,
    composite_from_inside,
);

#[cfg(test)]
mod tests {
    use serde_json::json;
    use wasync_guest::testing::FakeContext;
    use wasync_guest::{CallbackOn, Outcome};

    use super::*;

    fn value(outcome: Outcome) -> Value {
        match outcome {
            Outcome::Value(json) => serde_json::from_str(&json).unwrap(),
            Outcome::AwaitJob(id) => panic!("awaits {id}"),
        }
    }

    #[test]
    fn callbacks_scribble_and_handle() {
        let ctx = FakeContext::new();
        let jobs = jobs();
        assert_eq!(
            value(ctx.run(jobs, "scribble", json!(["200 OK"])).unwrap()),
            json!("200 OK: SCRIBBLED")
        );
        let failure = json!({"kind": "guest-error", "message": "m", "guest_kind": "NameError"});
        assert_eq!(
            value(
                ctx.run(jobs, "handle_name_errors", json!([failure]))
                    .unwrap()
            ),
            json!("I handled a name error")
        );
        assert!(
            ctx.run(jobs, "handle_name_errors", json!([{"kind": "trap"}]))
                .is_err()
        );
        assert!(ctx.run(jobs, "bad_bad_function", json!([])).is_err());
        ctx.run(jobs, "network_call_with_callback", json!([]))
            .unwrap();
        let callbacks = ctx.callbacks();
        assert_eq!(callbacks.len(), 1);
        assert_eq!(
            (callbacks[0].job.clone(), callbacks[0].on),
            (ctx.id(), CallbackOn::Success)
        );
    }

    #[test]
    fn main_job_collects_into_a_held_postprocess() {
        let ctx = FakeContext::new();
        let jobs = jobs();
        let Outcome::AwaitJob(postprocess) = ctx.run(jobs, "main_job", json!([])).unwrap() else {
            panic!("main_job awaits its postprocess");
        };
        let callbacks = ctx.callbacks();
        assert_eq!(callbacks.len(), 3);
        for (callback, result) in callbacks.iter().zip([7, 14, 21]) {
            let put = ctx
                .puts()
                .into_iter()
                .find(|p| p.id == callback.callback)
                .unwrap();
            let args = json!([put.args[0], result]);
            ctx.run(jobs, "callback", args).unwrap();
        }
        assert_eq!(
            ctx.held_args(&postprocess),
            None,
            "put after the third result"
        );
        let put = ctx
            .puts()
            .into_iter()
            .find(|p| p.id == postprocess)
            .unwrap();
        assert_eq!(value(ctx.run_put(jobs, &put).unwrap()), json!(42));
    }

    #[test]
    fn first_job_extends_its_composite() {
        let ctx = FakeContext::new();
        let jobs = jobs();
        let Outcome::AwaitJob(composite) = ctx
            .run(jobs, "composite_from_inside", json!(["serial"]))
            .unwrap()
        else {
            panic!("awaits the composite");
        };
        assert_eq!(ctx.composites()[0].parts.len(), 3);
        let first = ctx
            .run(jobs, "first_job", json!([composite.as_str()]))
            .unwrap();
        assert_eq!(value(first), json!("first"));
        assert_eq!(ctx.composites()[0].parts.len(), 4);
        let second = ctx.composites()[0].parts[3].clone();
        assert_eq!(ctx.callbacks()[0].job, second);
        ctx.run(
            jobs,
            "schedule_third",
            json!([composite.as_str(), "second"]),
        )
        .unwrap();
        assert_eq!(ctx.composites()[0].parts.len(), 5);
        assert_eq!(
            value(
                ctx.run(
                    jobs,
                    "tagged_sum",
                    json!({"extra_info": "foo", "outcomes": [7, 14, 21]})
                )
                .unwrap()
            ),
            json!(["foo", 42])
        );
    }
}
