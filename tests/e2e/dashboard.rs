//! The dashboard in a real browser (headless Chromium, `browser.rs`)
//! against a real `wasync serve`: sign in, watch jobs complete in the list
//! without reloading, read a failed job's backtrace, cancel a pending job,
//! pause a queue, upload a module by drag and drop, put a job from the form,
//! and a read-only token that sees no action buttons. Screenshots of the
//! main pages go to `target/dashboard-screenshots/`.

use base64::Engine;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::browser::{Browser, PHONE, screenshot_dir};
use crate::support::*;

/// The server's admin token in the dashboard's tests.
pub const ADMIN: &str = "dashboard-admin-secret";

/// Creates a token and returns its secret.
pub async fn token(http: &Http, name: &str, scopes: Value) -> String {
    let (status, body) = http
        .post(
            "/v1/tokens",
            json!({"name": name, "queues": ["*"], "scopes": scopes}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["secret"].as_str().unwrap().to_owned()
}

/// Signs the browser in with `secret` and waits for the overview.
pub async fn sign_in(browser: &Browser, url: &str, secret: &str) {
    browser.open(&format!("{url}/#/")).await;
    browser
        .wait_for("the sign-in form", "document.getElementById('token')")
        .await;
    browser.type_into("#token", secret).await;
    browser.click("form.login button[type=submit]").await;
    browser
        .wait_for(
            "the overview's queues",
            "document.querySelector('#queues article')",
        )
        .await;
}

/// A job's id.
pub fn id(job: &Value) -> String {
    job["id"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_in_a_browser() {
    let _machine = shared().await;
    let Some(browser) = Browser::start().await else {
        return;
    };
    let server = Server::start_with(ServerOptions::default().args(["--token", ADMIN])).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("failing").await;
    http.post("/v1/queues", json!({"name": "emails"})).await;
    let ops = token(&http, "ops", json!(["admin"])).await;
    let viewer = token(&http, "viewer", json!(["read"])).await;

    // A wrong token is refused at the sign-in; the right one signs in.
    browser.open(&format!("{}/#/", server.url)).await;
    browser
        .wait_for("the sign-in form", "document.getElementById('token')")
        .await;
    browser.type_into("#token", "not-a-token").await;
    browser.click("form.login button[type=submit]").await;
    browser
        .wait_for(
            "the refusal",
            "document.body.innerText.includes('not valid')",
        )
        .await;
    sign_in(&browser, &server.url, &ops).await;
    // The token stays in this tab's session storage only.
    let stored = browser
        .js(
            "return [sessionStorage.getItem('wasync.token'), localStorage.length, document.cookie]",
            vec![],
        )
        .await;
    assert_eq!(stored, json!([ops, 0, ""]));

    // Jobs complete in the list while it is shown, without a reload.
    browser.open(&format!("{}/#/jobs", server.url)).await;
    browser
        .wait_for("the jobs list", "document.getElementById('job-rows')")
        .await;
    browser.js("window.notReloaded = true", vec![]).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(id(&http
            .put_job("hello", "sleep", json!([100 + i * 50]))
            .await));
    }
    let all_succeeded = format!(
        "{ids:?}.every(id => {{ const row = document.querySelector(`tr[data-id=\"${{id}}\"]`); \
           return row && row.dataset.state === 'succeeded'; }})"
    );
    browser
        .wait_for("the five jobs to succeed in the list", &all_succeeded)
        .await;
    assert_eq!(
        browser.js("return window.notReloaded", vec![]).await,
        json!(true)
    );
    browser.screenshot("jobs").await;

    // A failed job shows its failure and the guest's backtrace.
    let failed = http
        .put_job("failing", "panics", json!(["the disk is on fire"]))
        .await;
    http.wait_completed(&id(&failed)).await;
    browser
        .open(&format!("{}/#/jobs/{}", server.url, id(&failed)))
        .await;
    let backtrace = browser
        .wait_for(
            "the backtrace",
            "document.getElementById('backtrace')?.textContent",
        )
        .await;
    assert!(
        backtrace.as_str().unwrap().contains("panics"),
        "{backtrace}"
    );
    let message = browser
        .js(
            "return document.getElementById('failure-message').textContent",
            vec![],
        )
        .await;
    assert!(message.as_str().unwrap().contains("the disk is on fire"));
    browser.screenshot("job-failed").await;

    // Put it again from its page: a new job, same call.
    browser.click("button[data-action=again]").await;
    browser.confirm().await;
    let again = browser
        .wait_for(
            "the new job's page",
            &format!(
                "!location.hash.includes('{}') && location.hash.split('/')[2]",
                id(&failed)
            ),
        )
        .await;
    let again = http
        .ok(&format!("/v1/jobs/{}", again.as_str().unwrap()))
        .await;
    assert_eq!(
        (again["function"].clone(), again["args"].clone()),
        (json!("panics"), json!(["the disk is on fire"]))
    );

    // Cancel a pending job (due in an hour) from its page.
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let pending = http
        .put_job_with(
            json!({"module": "hello", "function": "hello", "queue": "emails",
                             "begin_after": later.to_rfc3339()}),
        )
        .await;
    browser
        .open(&format!("{}/#/jobs/{}", server.url, id(&pending)))
        .await;
    browser.click("button[data-action=cancel]").await;
    browser.confirm().await;
    wait_until("the job to be cancelled", || async {
        let job = http.ok(&format!("/v1/jobs/{}", id(&pending))).await;
        (job["status"] == "cancelled").then_some(())
    })
    .await;
    browser
        .wait_for(
            "the page to show it cancelled",
            "document.querySelector('h1 .badge')?.textContent === 'cancelled'",
        )
        .await;

    // Pause a queue from the overview.
    browser.open(&format!("{}/#/", server.url)).await;
    browser
        .wait_for(
            "the emails queue",
            "document.querySelector('article[aria-label=\"queue emails\"]')",
        )
        .await;
    browser
        .click("article[aria-label=\"queue emails\"] button[data-action=pause]")
        .await;
    browser.confirm().await;
    wait_until("the queue to be paused", || async {
        let answer = http.ok("/v1/queues/emails/processing").await;
        (answer["processing"] == false).then_some(())
    })
    .await;
    browser
        .wait_for(
            "the card to say paused",
            "document.querySelector('article[aria-label=\"queue emails\"] .st-paused')",
        )
        .await;
    // The chart shows the hour's jobs: five and one failed at least.
    let chart = browser
        .wait_for(
            "the default queue's chart",
            "document.querySelector('article[aria-label=\"queue default\"] svg.chart title')?.textContent",
        )
        .await;
    assert!(chart.as_str().unwrap().contains("finished"), "{chart}");
    browser.screenshot("overview").await;
    browser.resize(PHONE).await;
    browser.screenshot("overview-phone").await;
    browser.resize(crate::browser::LAPTOP).await;

    // The server logged each action with the token's name.
    let log = wait_until("the audit log lines", || async {
        let log = server.log();
        (log.matches("dashboard action").count() >= 3).then_some(log)
    })
    .await;
    assert!(
        log.lines().any(|l| l.contains("dashboard action")
            && l.contains("token=ops")
            && l.contains("/v1/queues/emails/pause")),
        "{log}"
    );

    // Upload a module by dropping its file on the page.
    browser.open(&format!("{}/#/modules", server.url)).await;
    browser
        .wait_for("the drop zone", "document.getElementById('drop')")
        .await;
    let wasm = wasync_example_components::bytes("annotate");
    let drop = "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0)); \
                const data = new DataTransfer(); \
                data.items.add(new File([bytes], 'annotate.wasm', {type: 'application/wasm'})); \
                document.getElementById('drop').dispatchEvent( \
                  new DragEvent('drop', {dataTransfer: data, bubbles: true, cancelable: true}));";
    browser
        .js(
            drop,
            vec![json!(
                base64::engine::general_purpose::STANDARD.encode(&wasm)
            )],
        )
        .await;
    browser
        .wait_for(
            "the uploaded module in the list",
            "document.querySelector('tr[data-module=\"annotate\"]')",
        )
        .await;
    let modules = http.ok("/v1/modules/annotate").await;
    assert_eq!(modules["size"], json!(wasm.len()));
    browser.screenshot("modules").await;

    // Put a job from the form: bad JSON is refused in the page.
    browser.open(&format!("{}/#/put", server.url)).await;
    browser
        .wait_for("the put form", "document.getElementById('put-args')")
        .await;
    browser
        .js(
            "const m = document.getElementById('put-module'); m.value = 'hello'; \
             m.dispatchEvent(new Event('change')); \
             document.getElementById('put-function').value = 'add';",
            vec![],
        )
        .await;
    browser.type_into("#put-args", "[2, 3").await;
    browser
        .wait_for(
            "the JSON error",
            "document.getElementById('args-error').textContent.startsWith('Not JSON')",
        )
        .await;
    assert_eq!(
        browser
            .js(
                "return document.querySelector('form button[type=submit]').disabled",
                vec![]
            )
            .await,
        json!(true)
    );
    browser.type_into("#put-args", "[2, 3]").await;
    browser.screenshot("put").await;
    browser.click("form button[type=submit]").await;
    let put = browser
        .wait_for(
            "the put job's page",
            "location.hash.startsWith('#/jobs/') && location.hash.slice(7)",
        )
        .await;
    let done = http.wait_completed(put.as_str().unwrap()).await;
    assert_eq!(done["result"], json!(5));

    // A read-only token sees everything and no action button.
    browser.click("#who button").await;
    sign_in(&browser, &server.url, &viewer).await;
    let buttons = "document.querySelectorAll('button[data-action]').length";
    assert_eq!(
        browser.js(&format!("return {buttons}"), vec![]).await,
        json!(0)
    );
    browser
        .open(&format!("{}/#/jobs/{}", server.url, id(&failed)))
        .await;
    browser
        .wait_for("the backtrace", "document.getElementById('backtrace')")
        .await;
    assert_eq!(
        browser.js(&format!("return {buttons}"), vec![]).await,
        json!(0)
    );
    browser.open(&format!("{}/#/jobs", server.url)).await;
    browser
        .wait_for(
            "the list",
            "document.querySelector('#job-rows tr[data-id]')",
        )
        .await;
    let seen = browser
        .js(
            &format!(
                "return [{buttons}, document.querySelector('a[data-section=put]').hidden, \
                  !!document.querySelector('section[aria-label=\"Upload a module\"]')]"
            ),
            vec![],
        )
        .await;
    assert_eq!(seen, json!([0, true, false]));
    browser.screenshot("jobs-read-only").await;

    browser.close().await;
    eprintln!("screenshots in {}", screenshot_dir().display());
}

/// `GET /v1/activity` on both backends: the queues' states, the hour's
/// finished jobs per bucket, and only the queues a token may read.
async fn activity_counts_the_hour(backend: Backend) {
    let _machine = shared().await;
    let server =
        Server::start_on_with(backend, ServerOptions::default().args(["--token", ADMIN])).await;
    let http = server.http();
    http.upload_example("hello").await;
    http.upload_example("failing").await;
    http.post("/v1/queues", json!({"name": "secret"})).await;
    for job in [
        http.put_job("hello", "hello", json!([])).await,
        http.put_job("hello", "hello", json!([])).await,
        http.put_job("failing", "panics", json!(["no"])).await,
    ] {
        http.wait_completed(&id(&job)).await;
    }
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    http.put_job_with(
        json!({"module": "hello", "function": "hello", "queue": "secret",
                             "begin_after": later.to_rfc3339()}),
    )
    .await;

    let activity = http.ok("/v1/activity?window=1h&buckets=6").await;
    assert_eq!(activity["bucket_ms"], json!(600_000), "{activity}");
    let queue = |name: &str| {
        activity["queues"]
            .as_array()
            .unwrap()
            .iter()
            .find(|q| q["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("queue {name:?} in {activity}"))
    };
    let default = queue("");
    assert_eq!(
        default["states"],
        json!({"succeeded": 2, "failed": 1}),
        "{default}"
    );
    assert_eq!(
        default["finished"],
        json!({"succeeded": 2, "failed": 1, "cancelled": 0})
    );
    let buckets = default["buckets"].as_array().unwrap();
    assert_eq!(buckets.len(), 6);
    assert_eq!(
        buckets[5],
        json!({"succeeded": 2, "failed": 1, "cancelled": 0}),
        "the latest bucket: {default}"
    );
    assert!(default["mean_wait_ms"].as_i64().unwrap() >= 0);
    assert_eq!(queue("secret")["states"], json!({"pending": 1}));
    assert_eq!(queue("secret")["paused"], json!(false));

    // A token reading only `default`'s queue sees only it.
    let (status, body) = http
        .post(
            "/v1/tokens",
            json!({"name": "reader", "queues": [""], "scopes": ["read"]}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let reader = Http::new(
        &server.url,
        Some(body["secret"].as_str().unwrap().to_owned()),
    );
    let seen = reader.ok("/v1/activity").await;
    let names: Vec<&Value> = seen["queues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| &q["name"])
        .collect();
    assert_eq!(names, vec![&json!("")], "{seen}");
    let me = reader.ok("/v1/caller").await;
    assert_eq!(
        me,
        json!({"name": "reader", "admin": false, "queues": [""], "scopes": ["read"]})
    );

    // Bad windows are refused, naming the problem.
    for bad in [
        "window=0s",
        "buckets=0",
        "buckets=100000",
        "window=30d",
        "window=soon",
    ] {
        let (status, body) = http.get(&format!("/v1/activity?{bad}")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(body["error"]["message"].as_str().is_some(), "{body}");
    }
    // The page and its assets need no token; the API does.
    let page = reqwest::get(format!("{}/", server.url)).await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("/assets/app.js"));
    let (status, _) = server.http_without_token().get("/v1/activity").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

crate::on_both_backends!(activity_counts_the_hour);
