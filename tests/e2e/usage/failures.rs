//! Point 3, "Failures": kind, message and backtrace.

#[allow(unused_imports)]
use super::*;

// ----- Failures -----

/// Point 3: A failure carries what a user needs to debug it: its kind, a
/// message, and the guest's backtrace with function names
/// (`getTraceback()`).
async fn usage_3_failures_carry_kind_message_and_backtrace(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let http = server.http();
    http.upload_example("failing").await;

    // `I_am_a_bad_bad_function`: a panic, three named calls deep.
    let panicked = http
        .put_job("failing", "panics", json!(["foo is not defined"]))
        .await;
    let done = http.wait_completed(&id(&panicked)).await;
    let failure = &done["failure"];
    assert_eq!(failure["kind"], "panic", "{done}");
    assert!(
        failure["message"]
            .as_str()
            .unwrap()
            .contains("foo is not defined"),
        "{failure}"
    );
    let detail = failure["detail"].as_str().unwrap();
    for function in [
        "failing::explode",
        "failing::validate_input",
        "failing::panics",
    ] {
        assert!(
            detail.contains(function),
            "the backtrace names {function}: {detail}"
        );
    }
    // A trap the guest never saw coming.
    let trapped = http.put_job("failing", "trap", json!([])).await;
    let done = http.wait_completed(&id(&trapped)).await;
    assert_eq!(done["failure"]["kind"], "trap", "{done}");
    let detail = done["failure"]["detail"].as_str().unwrap();
    assert!(detail.contains("hit_unreachable"), "{detail}");
    // An error returned on purpose keeps the author's name for it.
    let typed = http.put_job("failing", "typed_error", json!(["E42"])).await;
    let done = http.wait_completed(&id(&typed)).await;
    assert_eq!(done["failure"]["kind"], "guest-error");
    assert_eq!(
        done["failure"]["guest_kind"], "LookupError::NotFound",
        "{done}"
    );
    assert!(done["failure"]["message"].as_str().unwrap().contains("E42"));
    // `wasync show` prints all of it; `wasync wait` exits 1.
    let out = server.cli(&["show", &id(&panicked)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("panic") && text.contains("failing::explode"),
        "{text}"
    );
    let out = server.cli(&["wait", &id(&typed)]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
}

crate::on_both_backends!(usage_3_failures_carry_kind_message_and_backtrace,);
