//! Point 9: multiple queues, agents' filters and preferences.

#[allow(unused_imports)]
use super::*;

// ----- Configuration: agents and multiple queues -----

/// Point 9: Multiple queues: a job in queue `video` runs only on the dispatcher
/// that has an agent there. Agents: one with a filter takes only its jobs
/// (`chooseMul`); one with a preference takes its jobs first, then any
/// (`preferMul`).
async fn usage_9_queues_and_agents_choose_the_jobs(backend: Backend) {
    let _machine = shared().await;
    // Two processes on one database, each with its own dispatcher.
    let database = backend.database();
    let (id_a, id_b) = (
        uuid::Uuid::new_v4().to_string(),
        uuid::Uuid::new_v4().to_string(),
    );
    let options = |dispatcher: &str| {
        ServerOptions::default()
            .database(&database)
            .args(["--dispatcher-id", dispatcher])
    };
    let a = Server::start_on_with(backend, options(&id_a)).await;
    let b = Server::start_on_with(backend, options(&id_b)).await;
    let (http, http_b) = (a.http(), b.http());
    http.upload_example("hello").await;
    http.upload_example("annotate").await;

    create_queue(&http, "video").await;
    set_agent(&http, &id_b, "video", "main", json!({"size": 2})).await;
    let mut videos = Vec::new();
    for _ in 0..4 {
        let body = json!({"module": "hello", "function": "hello", "queue": "video"});
        videos.push(id(&http.put_job_with(body).await));
    }
    for video in &videos {
        let done = http.wait_completed(video).await;
        assert_eq!(
            done["dispatcher"],
            id_b.as_str(),
            "only B serves video: {done}"
        );
    }
    // Both serve the default queue (each has its `main` agent).
    let plain = http_b.put_job("hello", "hello", json!([])).await;
    http_b.wait_completed(&id(&plain)).await;

    // chooseMul: an agent that takes only `wait_for` jobs.
    create_queue(&http, "calc").await;
    let set = |name: &str| json!({"module": "annotate", "function": "set", "args": [name, 1, null], "queue": "calc"});
    let s1 = id(&http.put_job_with(set("a")).await);
    let s2 = id(&http.put_job_with(set("b")).await);
    let w1 = id(&http.put_job_with(blocking("calc", &[])).await);
    let w2 = id(&http.put_job_with(blocking("calc", &[])).await);
    let out = b.cli(&[
        "agents",
        "-d",
        &id_b,
        "set",
        "calc",
        "mul",
        "--size",
        "1",
        "--function",
        "wait_for",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    wait_status(&http, &w1, "active").await;
    annotate(&http, &w1, "go", json!(1)).await;
    wait_status(&http, &w2, "active").await;
    for skipped in [&s1, &s2] {
        assert_eq!(
            job(&http, skipped).await["status"],
            "pending",
            "the filter passed it over"
        );
    }
    annotate(&http, &w2, "go", json!(2)).await;
    http.wait_completed(&w2).await;

    // preferMul: the same agent, now preferring `wait_for` but taking any.
    let w3 = id(&http.put_job_with(blocking("calc", &[])).await);
    let out = b.cli(&[
        "agents", "-d", &id_b, "set", "calc", "mul", "--size", "1", "--prefer", "wait_for",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("prefers"), "{}", stdout(&out));
    let first = wait_status(&http, &w3, "active").await;
    assert_eq!(first["agent"], "mul");
    for later in [&s1, &s2] {
        assert_eq!(
            job(&http, later).await["status"],
            "pending",
            "after the preferred job"
        );
    }
    annotate(&http, &w3, "go", json!(3)).await;
    for any in [&s1, &s2] {
        let done = http.wait_completed(any).await;
        assert_eq!(
            (done["agent"].clone(), done["dispatcher"].clone()),
            (json!("mul"), json!(id_b))
        );
    }
    let agents = http.ok(&format!("/v1/dispatchers/{id_b}/agents")).await;
    let mul = agents["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|agent| agent["name"] == "mul")
        .cloned()
        .unwrap();
    assert_eq!(mul["prefer"], json!({"functions": ["wait_for"]}), "{mul}");
    assert!(mul.get("filter").is_none(), "{mul}");
}

crate::on_both_backends!(usage_9_queues_and_agents_choose_the_jobs,);
