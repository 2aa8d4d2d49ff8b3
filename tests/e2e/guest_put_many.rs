//! A running job's `put-many` (issue 16): the jobs a guest puts in one
//! call all run; a unique request whose key is held answers with the job
//! holding it; a list over the host's maximum is the guest's error, and
//! nothing of it is stored. And a guest's callback takes the priority of
//! the job it hangs on (issue 18), as over HTTP.

use serde_json::{Value, json};

use crate::support::{Backend, Server, shared};

/// The host's `PUT_MANY_MAX`.
const PUT_MANY_MAX: u64 = 10_000;

fn id(job: &Value) -> String {
    job["id"].as_str().expect("a job id").to_owned()
}

/// How many jobs the server holds (far fewer than a page here).
async fn job_count(http: &crate::support::Http) -> usize {
    let page = http.ok("/v1/jobs?limit=1000").await;
    page["jobs"].as_array().expect("a page of jobs").len()
}

/// `fanout_many(n)` puts `second_job(i)` for `i` in `0..n` with one
/// `put_many`: every child runs (`2 * i`), each with the parent's module
/// and queue and the parent recorded.
async fn a_guests_put_many_jobs_all_run(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    let module = http.upload_example("fanout").await;
    let parent = http.put_job("fanout", "fanout_many", json!([25])).await;
    let done = http.wait_completed(&id(&parent)).await;
    let children = done["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{done}"))
        .clone();
    assert_eq!(children.len(), 25, "{done}");
    for (i, child) in children.iter().enumerate() {
        let child = http.wait_completed(child.as_str().unwrap()).await;
        assert_eq!(child["result"], json!(2 * i), "{child}");
        assert_eq!(child["module"], module["digest"], "{child}");
        assert_eq!(child["queue"], "", "{child}");
    }
}

/// Over the maximum the guest gets the host's error (its job fails with
/// it, kind `context`) and nothing of the list is stored; an empty list
/// puts nothing and answers an empty list.
async fn a_list_over_the_maximum_is_the_guests_error(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("fanout").await;
    let over = http
        .put_job("fanout", "fanout_many", json!([PUT_MANY_MAX + 1]))
        .await;
    let done = http.wait_completed(&id(&over)).await;
    let failure = &done["failure"];
    assert_eq!(failure["guest_kind"], "context", "{done}");
    let message = failure["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!(
            "put-many takes at most {PUT_MANY_MAX} requests; this list holds {}",
            PUT_MANY_MAX + 1
        )),
        "{message}"
    );
    assert_eq!(job_count(&http).await, 1, "only the parent");
    let empty = http.put_job("fanout", "fanout_many", json!([0])).await;
    let done = http.wait_completed(&id(&empty)).await;
    assert_eq!(done["result"], json!([]), "{done}");
    assert_eq!(job_count(&http).await, 2, "the two parents");
}

/// Unique requests of one list: the first inserts the job, the others
/// answer with it as duplicates; the plain request last is inserted. A
/// second list finds the key held by the first list's job.
async fn a_guests_put_many_answers_duplicates(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("fanout").await;
    // Paused: the unique job stays pending, holding its key.
    let (status, body) = http.post("/v1/queues/default/pause", json!({})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let parent = http
        .put_job("fanout", "put_many_unique", json!(["batch-key", 3, 4]))
        .await;
    let (status, body) = http.post("/v1/queues/default/resume", json!({})).await;
    assert_eq!(status, reqwest::StatusCode::OK, "{body}");
    let done = http.wait_completed(&id(&parent)).await;
    let answers = done["result"]
        .as_array()
        .unwrap_or_else(|| panic!("{done}"));
    let duplicate: Vec<&Value> = answers.iter().map(|a| &a["duplicate"]).collect();
    assert_eq!(
        duplicate,
        [&json!(false), &json!(true), &json!(true), &json!(false)],
        "{done}"
    );
    assert_eq!(answers[0]["id"], answers[1]["id"], "{done}");
    assert_eq!(answers[0]["id"], answers[2]["id"], "{done}");
    assert_ne!(answers[0]["id"], answers[3]["id"], "{done}");
    for answer in [&answers[0], &answers[3]] {
        let child = http.wait_completed(answer["id"].as_str().unwrap()).await;
        assert_eq!(child["result"], 8, "{child}");
    }
}

/// A guest's `add-callback` with no priority of its own takes the
/// priority of the job it hangs on: `usage`'s `network_call_with_callback`
/// hangs `scribble` on itself.
async fn a_guests_callback_takes_its_jobs_priority(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("usage").await;
    let job = http
        .put_job_with(json!({
            "module": "usage",
            "function": "network_call_with_callback",
            "priority": 6,
        }))
        .await;
    http.wait_completed(&id(&job)).await;
    let list = http.ok(&format!("/v1/jobs/{}/callbacks", id(&job))).await;
    let callback = &list[0]["job"];
    let callback = http
        .wait_completed(callback["id"].as_str().unwrap_or_else(|| panic!("{list}")))
        .await;
    assert_eq!(callback["priority"], 6, "{callback}");
    assert_eq!(callback["result"], "200 OK: SCRIBBLED", "{callback}");
}

crate::on_both_backends!(
    a_guests_put_many_jobs_all_run,
    a_list_over_the_maximum_is_the_guests_error,
    a_guests_put_many_answers_duplicates,
    a_guests_callback_takes_its_jobs_priority,
);
