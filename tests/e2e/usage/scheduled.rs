//! Point 2, "Scheduled calls": `begin_after` and `begin_by`.

#[allow(unused_imports)]
use super::*;

// ----- Scheduled calls -----

/// Point 2: `begin_after` holds a job until then (a time without zone is UTC);
/// `begin_by` fails a job not started in time with `timeout`, without
/// running it; a time already past runs as soon as possible, unless its
/// `begin_by` has passed too. The server's clock is moved, not waited for.
async fn usage_2_scheduled_calls_wait_for_their_time_and_expire_after_begin_by(backend: Backend) {
    let _machine = shared().await;
    let clock_dir = tempfile::tempdir().unwrap();
    let clock = clock_dir.path().join("clock");
    let options = ServerOptions {
        env: vec![("WASYNC_CLOCK_FILE".to_owned(), clock.display().to_string())],
        ..ServerOptions::default()
    };
    let server = Server::start_on_with(backend, options).await;
    let http = server.http();
    http.upload_example("hello").await;
    let move_clock = |hours: f64| {
        let ms = (hours * 3_600_000.0) as i64;
        wasync::clock::OffsetFileClock::write_offset(&clock, ms).unwrap();
    };

    // `queue.put(send_message, begin_after=datetime(...))`, in an hour,
    // written without a zone: UTC.
    let at = chrono::Utc::now() + chrono::Duration::hours(1);
    let naive = at.format("%Y-%m-%dT%H:%M:%S").to_string();
    let scheduled = http
        .put_job_with(json!({"module": "hello", "function": "hello", "begin_after": naive}))
        .await;
    assert_eq!(scheduled["status"], "pending");
    assert_eq!(scheduled["scheduled"], true);
    let begin_after =
        chrono::DateTime::parse_from_rfc3339(scheduled["begin_after"].as_str().unwrap()).unwrap();
    assert_eq!(begin_after.timestamp(), at.timestamp(), "read as UTC");
    // Jobs put after it run meanwhile; it waits ("TIME OUT").
    let plain = http.put_job("hello", "hello", json!([])).await;
    http.wait_completed(&id(&plain)).await;
    let waited = http
        .ok(&format!("/v1/jobs/{}/wait?timeout=300ms", id(&scheduled)))
        .await;
    assert_eq!(waited["status"], "pending");
    // `set_now(...)`: past its time, it runs.
    move_clock(1.01);
    let done = http.wait_completed(&id(&scheduled)).await;
    assert_eq!(done["result"], "200 OK");
    let started =
        chrono::DateTime::parse_from_rfc3339(done["started_at"].as_str().unwrap()).unwrap();
    assert!(started >= begin_after, "{done}");

    // begin_by: not started ten minutes after its time: a timeout failure,
    // and the job never ran. (Its time is in an hour; the clock jumps two.)
    let at = chrono::Utc::now() + chrono::Duration::hours(2);
    let late = http
        .put_job_with(json!({
            "module": "hello", "function": "hello",
            "begin_after": at.to_rfc3339(), "begin_by": "10m",
        }))
        .await;
    assert_eq!(late["begin_by_ms"], 600_000);
    move_clock(3.5);
    let expired = http.wait_completed(&id(&late)).await;
    assert_eq!(expired["failure"]["kind"], "timeout", "{expired}");
    assert!(
        expired["failure"]["message"]
            .as_str()
            .unwrap()
            .contains("not started"),
        "{expired}"
    );
    assert_eq!(expired["attempts"], 0, "never run: {expired}");
    assert!(expired.get("started_at").is_none() && expired.get("result").is_none());

    // [#already_passed]: a time already past runs as soon as possible, at
    // the end of the FIFO, as if none had been given.
    let passed = http
        .put_job_with(
            json!({"module": "hello", "function": "hello", "begin_after": "2006-08-10T15:00:00"}),
        )
        .await;
    assert_eq!(passed["scheduled"], false);
    assert_eq!(http.wait_completed(&id(&passed)).await["result"], "200 OK");
    // [#already_passed_timed_out]: ... unless its begin_by has passed too:
    // the put returns it completed with the timeout failure.
    let (status, timed_out) = http
        .post(
            "/v1/jobs",
            json!({
                "module": "hello", "function": "hello",
                "begin_after": "2006-07-21T12:00:00Z", "begin_by": 3600,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{timed_out}");
    assert_eq!(timed_out["status"], "completed");
    assert_eq!(timed_out["failure"]["kind"], "timeout");
    assert_eq!(job(&http, &id(&timed_out)).await["status"], "completed");
    // The CLI's `put --begin-after --begin-by` says the same.
    let out = server.cli(&[
        "--json",
        "put",
        "hello",
        "hello",
        "--begin-after",
        "2006-07-21 12:00",
        "--begin-by",
        "1h",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let put: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(put["failure"]["kind"], "timeout", "{put}");
}

crate::on_both_backends!(usage_2_scheduled_calls_wait_for_their_time_and_expire_after_begin_by,);
