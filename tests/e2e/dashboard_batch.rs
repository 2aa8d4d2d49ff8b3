//! The dashboard's batch actions, time filter, schedules page, job graph
//! and queue ↔ agents overview in a real browser (headless Chromium,
//! `browser.rs`) against a real `wasync serve`; and the API they stand on
//! (`GET /v1/jobs/query?created_since=&created_before=`,
//! `POST /v1/jobs/delete`) on both backends.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Browser, PHONE};
use crate::dashboard::{ADMIN, id, sign_in, token};
use crate::support::*;

/// A job's `created_at` in milliseconds.
fn created_ms(job: &Value) -> i64 {
    chrono::DateTime::parse_from_rfc3339(job["created_at"].as_str().unwrap())
        .unwrap()
        .timestamp_millis()
}

/// Milliseconds as a time a query string carries (no `+` to escape).
fn query_time(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// Waits until the wall clock has passed `ms` (rounded up to `unit`):
/// jobs put after it are created later than those put before.
async fn clock_past(ms: i64, unit: i64) -> i64 {
    let boundary = (ms / unit + 1) * unit;
    wait_until("the clock to pass the boundary", || async {
        (chrono::Utc::now().timestamp_millis() >= boundary).then_some(())
    })
    .await;
    boundary
}

fn ids_of(page: &Value) -> Vec<String> {
    page["jobs"].as_array().unwrap().iter().map(id).collect()
}

/// `created_since`/`created_before` on the job query and count, and
/// `POST /v1/jobs/delete` sorting ids into deleted, unfinished and
/// missing; bad input named in a 400, a read-only token refused.
async fn jobs_by_creation_time_and_deleted_by_id(backend: Backend) {
    let _machine = shared().await;
    let server =
        Server::start_on_with(backend, ServerOptions::default().args(["--token", ADMIN])).await;
    let http = server.http();
    http.upload_example("hello").await;
    let mut early = Vec::new();
    for i in 0..2 {
        early.push(
            http.put_job("hello", "echo", json!([format!("early {i}")]))
                .await,
        );
    }
    let boundary = clock_past(created_ms(&early[1]), 1).await;
    let mut late = Vec::new();
    for i in 0..3 {
        late.push(
            http.put_job("hello", "echo", json!([format!("late {i}")]))
                .await,
        );
    }
    for job in early.iter().chain(&late) {
        http.wait_completed(&id(job)).await;
    }
    let at = query_time(boundary);
    let since = http
        .ok(&format!("/v1/jobs/query?function=echo&created_since={at}"))
        .await;
    assert_eq!(ids_of(&since), late.iter().map(id).collect::<Vec<_>>());
    let before = http
        .ok(&format!(
            "/v1/jobs/query?function=echo&created_before={at}&order=newest"
        ))
        .await;
    assert_eq!(
        ids_of(&before),
        early.iter().rev().map(id).collect::<Vec<_>>()
    );
    let count = http
        .ok(&format!(
            "/v1/jobs/count?created_since={}&created_before={at}",
            query_time(created_ms(&early[1]))
        ))
        .await;
    assert_eq!(count["count"], 1, "{count}");
    let (status, body) = http.get("/v1/jobs/query?created_since=soon").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Deleting by id: the finished jobs only; each id accounted for.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let pending = http
        .put_job_with(json!({"module": "hello", "function": "hello",
                             "begin_after": later.to_rfc3339()}))
        .await;
    let nobody = "0193b2d4-5a6e-7c11-9f3a-2b4c5d6e7f80";
    let (status, report) = http
        .post(
            "/v1/jobs/delete",
            json!({"ids": [id(&early[0]), id(&pending), nobody, id(&late[0])]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        report,
        json!({"deleted": [id(&early[0]), id(&late[0])], "unfinished": [id(&pending)],
               "missing": [nobody]})
    );
    for gone in [&early[0], &late[0]] {
        let (status, _) = http.get(&format!("/v1/jobs/{}", id(gone))).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    assert_eq!(
        http.ok(&format!("/v1/jobs/{}", id(&pending))).await["status"],
        "pending"
    );
    let too_many: Vec<String> = (0..1001).map(|_| nobody.to_owned()).collect();
    for (bad, names) in [
        (json!({"ids": []}), "ids"),
        (json!({"ids": too_many}), "ids"),
        (json!({"ids": ["not-an-id"]}), "UUID"),
        (json!({"id": [nobody]}), "id"),
    ] {
        let (status, body) = http.post("/v1/jobs/delete", bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{message}");
    }
    let viewer = Http::new(
        &server.url,
        Some(token(&http, "viewer", json!(["read", "manage"])).await),
    );
    let (status, body) = viewer
        .post("/v1/jobs/delete", json!({"ids": [id(&late[1])]}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
}

crate::on_both_backends!(jobs_by_creation_time_and_deleted_by_id);

/// The rows the jobs list shows, by id.
const ROWS: &str = "[...document.querySelectorAll('#job-rows tr[data-id]')].map(r => r.dataset.id)";

/// Sets the jobs list's filters (by the controls' ids, times as instants
/// turned into the browser's local time, "" clearing one) and submits
/// them.
async fn filter(browser: &Browser, fields: Value) {
    browser
        .js(
            "for (const [key, value] of Object.entries(arguments[0])) { \
               const input = document.getElementById('f-' + key); \
               if ((key === 'from' || key === 'to') && value) { \
                 const t = new Date(value); \
                 input.value = new Date(t - t.getTimezoneOffset() * 60000).toISOString().slice(0, 19); \
               } else { input.value = value; } \
             } \
             document.querySelector('form.filters').requestSubmit();",
            vec![fields],
        )
        .await;
}

/// Waits until the list shows exactly `ids` (in any order).
async fn shows(browser: &Browser, what: &str, ids: &[String]) {
    let mut want = ids.to_vec();
    want.sort();
    browser
        .wait_for(
            what,
            &format!(
                "(() => {{ const rows = {ROWS}.sort(); \
                   return JSON.stringify(rows) === JSON.stringify({want:?}); }})()"
            ),
        )
        .await;
}

/// Opens the confirmation, checks its title, and confirms.
async fn confirm_titled(browser: &Browser, title: &str) {
    let shown = browser
        .wait_for(
            "the confirmation's title",
            "document.getElementById('confirm').open && document.getElementById('confirm-title').textContent",
        )
        .await;
    assert!(shown.as_str().unwrap().contains(title), "{shown}");
    browser.confirm().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_actions_schedules_and_graphs_in_a_browser() {
    let _machine = shared().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Server::start_with(ServerOptions::default().args(["--token", ADMIN])).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("usage").await;
    http.post("/v1/queues", json!({"name": "idle"})).await;
    let ops = token(&http, "ops", json!(["admin"])).await;
    sign_in(&browser, &server.url, &ops).await;

    // The time filter: jobs put before and after a second's boundary.
    let mut early = Vec::new();
    for i in 0..3 {
        early.push(
            http.put_job("hello", "echo", json!([format!("early {i}")]))
                .await,
        );
    }
    let boundary = clock_past(created_ms(&early[2]), 1000).await;
    let mut late = Vec::new();
    for i in 0..3 {
        late.push(
            http.put_job("hello", "echo", json!([format!("late {i}")]))
                .await,
        );
    }
    for job in early.iter().chain(&late) {
        http.wait_completed(&id(job)).await;
    }
    let early_ids: Vec<String> = early.iter().map(id).collect();
    let late_ids: Vec<String> = late.iter().map(id).collect();
    let at = query_time(boundary);
    browser.open(&format!("{}/#/jobs", server.url)).await;
    browser
        .wait_for("the jobs list", "document.getElementById('job-rows')")
        .await;
    filter(&browser, json!({"function": "echo", "from": at})).await;
    shows(&browser, "the jobs put after the boundary", &late_ids).await;
    filter(&browser, json!({"function": "echo", "from": "", "to": at})).await;
    shows(&browser, "the jobs put before the boundary", &early_ids).await;
    browser.screenshot("jobs-time-filter").await;

    // Delete two selected jobs.
    for job in &early_ids[..2] {
        browser
            .click(&format!("tr[data-id=\"{job}\"] input[type=checkbox]"))
            .await;
    }
    browser
        .wait_for(
            "two jobs to delete",
            "document.querySelector('button[data-action=delete-selected]')?.textContent === 'Delete (2)'",
        )
        .await;
    browser.click("button[data-action=delete-selected]").await;
    confirm_titled(&browser, "Delete 2 finished jobs?").await;
    shows(&browser, "the one job left", &early_ids[2..]).await;
    for gone in &early_ids[..2] {
        let (status, _) = http.get(&format!("/v1/jobs/{gone}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{gone} deleted");
    }

    // Delete every job matching the filters: the three late ones.
    filter(&browser, json!({"function": "echo", "from": at, "to": ""})).await;
    shows(&browser, "the late jobs again", &late_ids).await;
    browser.click("button[data-action=delete-matching]").await;
    confirm_titled(&browser, "Delete 3 finished jobs matching the filters?").await;
    shows(&browser, "no job left", &[]).await;
    let count = http
        .ok(&format!("/v1/jobs/count?function=echo&created_since={at}"))
        .await;
    assert_eq!(count["count"], 0, "{count}");
    assert_eq!(
        http.ok(&format!("/v1/jobs/{}", early_ids[2])).await["status"],
        "completed",
        "a job the filters did not match is kept"
    );

    // Cancel every matching job (pending for an hour), then put the
    // selected ones again.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let mut held = Vec::new();
    for i in 0..3 {
        held.push(id(&http
            .put_job_with(json!({"module": "hello", "function": "add", "args": [i, 1],
                                 "begin_after": later.to_rfc3339()}))
            .await));
    }
    browser
        .open(&format!(
            "{}/#/jobs?function=add&status=pending",
            server.url
        ))
        .await;
    shows(&browser, "the pending jobs", &held).await;
    browser.click("button[data-action=cancel-matching]").await;
    confirm_titled(&browser, "Cancel 3 unfinished jobs matching the filters?").await;
    shows(&browser, "no pending job left", &[]).await;
    for job in &held {
        assert_eq!(
            http.ok(&format!("/v1/jobs/{job}")).await["status"],
            "cancelled"
        );
    }
    browser
        .open(&format!(
            "{}/#/jobs?function=add&status=cancelled",
            server.url
        ))
        .await;
    shows(&browser, "the cancelled jobs", &held).await;
    browser.click("thead input[type=checkbox]").await;
    browser.click("button[data-action=again-selected]").await;
    confirm_titled(&browser, "Put 3 jobs again?").await;
    let again = wait_until("three new add jobs to succeed", || async {
        let page = http.ok("/v1/jobs/query?function=add&state=succeeded").await;
        let results: Vec<i64> = page["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["result"].as_i64().unwrap())
            .collect();
        (results.len() == 3).then_some(results)
    })
    .await;
    let mut again = again;
    again.sort();
    assert_eq!(again, vec![1, 2, 3], "the same calls, put again");
    browser.screenshot("jobs-batch").await;

    // The overview: each queue with the agents serving it and how full.
    let sleeper = http.put_job("hello", "sleep", json!([8000])).await;
    browser.open(&format!("{}/#/", server.url)).await;
    let held_slots = browser
        .wait_for(
            "the main agent holding the sleeping job",
            "(() => { const a = document.querySelector('article[aria-label=\"queue default\"] \
               .served li[data-agent=main]'); \
               return a && Number(a.dataset.held) >= 1 && [Number(a.dataset.held), Number(a.dataset.size)]; })()",
        )
        .await;
    assert!(held_slots[1].as_i64().unwrap() >= 1, "{held_slots}");
    let idle = browser
        .wait_for(
            "the idle queue served by no agent",
            "document.querySelector('article[aria-label=\"queue idle\"] .served')?.textContent",
        )
        .await;
    assert!(
        idle.as_str().unwrap().contains("no running agent"),
        "{idle}"
    );
    browser.screenshot("overview-agents").await;
    http.post(&format!("/v1/jobs/{}/cancel", id(&sleeper)), json!({}))
        .await;

    // Schedules: next call times, latest runs, pause and resume.
    let now = chrono::Utc::now();
    let (status, body) = http
        .post(
            "/v1/schedules",
            json!({"name": "hourly", "module": "hello", "function": "echo", "args": ["tick"],
                   "delay": 3600, "next_call_time": now.to_rfc3339()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = http
        .post(
            "/v1/schedules",
            json!({"name": "five", "module": "hello", "function": "echo", "args": ["five"],
                   "cron": "*/5 * * * *"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    browser.open(&format!("{}/#/schedules", server.url)).await;
    let run = browser
        .wait_for(
            "the hourly schedule's first run, succeeded",
            "(() => { const b = document.querySelector('article[aria-label=\"schedule hourly\"] .tree li .badge'); \
               return b && b.textContent === 'succeeded' && b.closest('li').querySelector('a').getAttribute('href'); })()",
        )
        .await;
    let run_job = http
        .ok(&format!(
            "/v1/jobs/{}",
            run.as_str().unwrap().trim_start_matches("#/jobs/")
        ))
        .await;
    assert_eq!(run_job["args"], json!(["tick"]));
    let calls = |name: &str| {
        format!(
            "[...document.querySelectorAll('article[aria-label=\"schedule {name}\"] ol.calls li')]\
               .map(li => Date.parse(li.dataset.time))"
        )
    };
    let gaps = |times: &Value| -> Vec<i64> {
        let t: Vec<i64> = times
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_i64().unwrap())
            .collect();
        t.windows(2).map(|w| w[1] - w[0]).collect()
    };
    let hourly = browser
        .wait_for(
            "the hourly schedule's next calls",
            &format!(
                "(() => {{ const t = {}; return t.length === 3 && t; }})()",
                calls("hourly")
            ),
        )
        .await;
    assert_eq!(gaps(&hourly), vec![3_600_000, 3_600_000], "{hourly}");
    let five = browser
        .wait_for(
            "the cron schedule's next calls",
            &format!(
                "(() => {{ const t = {}; return t.length === 3 && t; }})()",
                calls("five")
            ),
        )
        .await;
    assert_eq!(gaps(&five), vec![300_000, 300_000], "{five}");
    let first = five[0].as_i64().unwrap();
    assert_eq!(first % 300_000, 0, "on a five-minute mark: {five}");
    // The first is the server's next call time (read again until both
    // agree: a five-minute mark may pass between the two reads).
    let first_shown = format!("{}[0]", calls("five"));
    wait_until("the page's first call to be the server's next", || async {
        let server_next = http.ok("/v1/schedules/five").await["next_call_time"].clone();
        let server_next = chrono::DateTime::parse_from_rfc3339(server_next.as_str()?)
            .ok()?
            .timestamp_millis();
        let shown = browser.js(&format!("return {first_shown}"), vec![]).await;
        (shown.as_i64() == Some(server_next)).then_some(())
    })
    .await;
    browser.screenshot("schedules").await;
    browser
        .click("article[aria-label=\"schedule five\"] button[data-action=pause-schedule]")
        .await;
    browser.confirm().await;
    wait_until("the schedule to be paused", || async {
        let s = http.ok("/v1/schedules/five").await;
        (s["active"] == false).then_some(())
    })
    .await;
    browser
        .wait_for(
            "the card to say paused, with no next call",
            "(() => { const c = document.querySelector('article[aria-label=\"schedule five\"]'); \
               return c.querySelector('.st-paused') && c.textContent.includes('none while paused'); })()",
        )
        .await;
    browser
        .click("article[aria-label=\"schedule five\"] button[data-action=resume-schedule]")
        .await;
    browser.confirm().await;
    wait_until("the schedule to be resumed", || async {
        let s = http.ok("/v1/schedules/five").await;
        (s["active"] == true).then_some(())
    })
    .await;
    browser
        .wait_for(
            "the next calls back",
            &format!("{}.length === 3", calls("five")),
        )
        .await;

    // A serial composite as a graph, following its parts (and then the
    // postprocess it awaits) live.
    http.post("/v1/queues/default/pause", json!({})).await;
    let (status, composite) = http
        .post(
            "/v1/composites",
            json!({"kind": "serial", "module": "usage",
                   "parts": [{"function": "job_zero"}, {"function": "job_one"}, {"function": "job_two"}],
                   "postprocess": {"function": "results", "args": {}}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{composite}");
    let composite = id(&composite);
    browser
        .open(&format!("{}/#/jobs/{composite}", server.url))
        .await;
    let nodes = "[...document.querySelectorAll('#graph svg a.gnode')]\
                 .map(a => [a.dataset.id, a.dataset.state, a.getAttribute('href')])";
    let before = browser
        .wait_for(
            "the graph's nodes",
            &format!("(() => {{ const n = {nodes}; return n.length >= 4 && n; }})()"),
        )
        .await;
    let parts: Vec<String> = http
        .ok(&format!("/v1/jobs/{composite}/parts"))
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect();
    assert_eq!(parts.len(), 3);
    let drawn: Vec<String> = before
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n[0].as_str().unwrap().to_owned())
        .collect();
    assert!(drawn.contains(&composite), "{before}");
    for part in &parts {
        assert!(drawn.contains(part), "part {part} drawn: {before}");
    }
    for node in before.as_array().unwrap() {
        assert_ne!(node[1], "succeeded", "nothing ran yet: {before}");
        assert_eq!(
            node[2],
            json!(format!("#/jobs/{}", node[0].as_str().unwrap()))
        );
    }
    assert_eq!(
        browser
            .js(
                "return document.querySelectorAll('#graph svg path.edge').length",
                vec![]
            )
            .await
            .as_u64()
            .unwrap() as usize,
        before.as_array().unwrap().len() - 1,
        "an edge to every node but the composite"
    );
    browser.js("window.notReloaded = true", vec![]).await;
    let into_view = "document.getElementById('graph').scrollIntoView({block: 'center'})";
    browser.js(into_view, vec![]).await;
    browser.screenshot("graph-waiting").await;
    http.post("/v1/queues/default/resume", json!({})).await;
    browser
        .wait_for(
            "every node, the postprocess the composite awaits too, to turn succeeded",
            &format!("(() => {{ const n = {nodes}; return n.length === 5 && n.every(n => n[1] === 'succeeded'); }})()"),
        )
        .await;
    assert_eq!(
        browser.js("return window.notReloaded", vec![]).await,
        json!(true)
    );
    browser.js(into_view, vec![]).await;
    browser.screenshot("graph").await;
    browser.resize(PHONE).await;
    browser.js(into_view, vec![]).await;
    browser.screenshot("graph-phone").await;
    browser.resize(crate::browser::LAPTOP).await;
    // Each node is a link to its job.
    browser
        .click(&format!("#graph a.gnode[data-id=\"{}\"]", parts[1]))
        .await;
    browser
        .wait_for(
            "the part's own page",
            &format!("location.hash === '#/jobs/{}'", parts[1]),
        )
        .await;

    // Phone width: the jobs list still usable.
    browser.resize(PHONE).await;
    browser.open(&format!("{}/#/jobs", server.url)).await;
    browser
        .wait_for(
            "the list",
            "document.querySelector('#job-rows tr[data-id]')",
        )
        .await;
    browser.screenshot("jobs-phone").await;
    browser.close().await;
}
