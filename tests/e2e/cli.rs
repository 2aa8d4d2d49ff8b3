//! The CLI client against a real server: the same story as over HTTP.

use std::path::Path;

use crate::support::{Backend, Server, shared, stderr, stdout};

async fn upload_put_wait_show_through_the_cli(backend: Backend) {
    let _machine = shared().await;
    let server = Server::start_on(backend).await;
    let hello = wasync_example_components::path("hello")
        .to_str()
        .unwrap()
        .to_owned();
    let failing = wasync_example_components::path("failing")
        .to_str()
        .unwrap()
        .to_owned();
    // The CLI blocks; the server runs in its own process meanwhile.
    let cli = |args: &[&str]| server.cli(args);

    let output = cli(&["health"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let output = cli(&["upload", &hello, "--name", "hello"]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("as `hello`"),
        "{}",
        stdout(&output)
    );

    // `put` prints the id alone, so scripts can capture it.
    let output = cli(&["put", "hello", "add", "[2, 40]"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let id = stdout(&output).trim().to_owned();
    assert_eq!(id.len(), 36, "a job id: {id}");

    let output = cli(&["wait", &id]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        format!("job {id} completed with result 42")
    );

    let output = cli(&["show", &id]);
    assert!(output.status.success());
    let shown = stdout(&output);
    assert!(
        shown.contains("status     completed") && shown.contains("add([2,40])"),
        "{shown}"
    );

    let output = cli(&["--json", "show", &id]);
    let job: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("--json prints JSON");
    assert_eq!(job["result"], 42);

    // A failed job: `wait` exits 1 and says why.
    cli(&["upload", &failing, "--name", "failing"]);
    let id = stdout(&cli(&["put", "failing", "divide", r#"{"a": 1, "b": 0}"#]))
        .trim()
        .to_owned();
    let output = cli(&["wait", &id]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stdout(&output).contains("failure guest-error"),
        "{}",
        stdout(&output)
    );

    // Listing, queues, annotations, dispatchers and agents.
    let listing = stdout(&cli(&["jobs", "--status", "completed"]));
    assert!(
        listing.contains("hello:add") && listing.contains("failing:divide"),
        "{listing}"
    );
    assert!(cli(&["queues", "create", "video"]).status.success());
    let queues = stdout(&cli(&["queues"]));
    assert!(
        queues.contains("default") && queues.contains("video"),
        "{queues}"
    );
    assert!(cli(&["annotate", &id, "reviewed", "true"]).status.success());
    assert_eq!(stdout(&cli(&["annotate", &id, "reviewed"])).trim(), "true");
    let dispatchers = stdout(&cli(&["dispatchers"]));
    assert!(
        dispatchers.contains("agent main in queue default: size 3"),
        "{dispatchers}"
    );
    let output = cli(&[
        "agents",
        "set",
        "video",
        "encoder",
        "--size",
        "2",
        "--function",
        "encode_*",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let agents = stdout(&cli(&["agents"]));
    assert!(
        agents.contains("agent encoder in queue video: size 2"),
        "{agents}"
    );

    // pull / put-back / remove on a queue no agent serves.
    assert!(cli(&["queues", "create", "idle"]).status.success());
    let first = stdout(&cli(&["put", "hello", "hello", "--queue", "idle"]))
        .trim()
        .to_owned();
    let second = stdout(&cli(&["put", "hello", "hello", "--queue", "idle"]))
        .trim()
        .to_owned();
    let pulled = stdout(&cli(&["pull", "--queue", "idle"]));
    assert!(pulled.contains(&first), "{pulled}");
    assert!(cli(&["put-back", &first]).status.success());
    let order = stdout(&cli(&["queues", "jobs", "idle"]));
    let (a, b) = (order.find(&second).unwrap(), order.find(&first).unwrap());
    assert!(a < b, "put back goes to the end: {order}");
    let output = cli(&["remove", &second, "--queue", "idle"]);
    assert!(output.status.success(), "{}", stderr(&output));

    // Errors: a message and exit 2, nothing else.
    let output = cli(&["show", "01936f3e-0000-7000-8000-000000000000"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("not found"), "{}", stderr(&output));
    let output = cli(&["put", "hello", "add", "[1, 2"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("not valid JSON"),
        "{}",
        stderr(&output)
    );
    let output = cli(&["upload", "/no/such/file.wasm"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(Path::new(&hello).exists());
}

crate::on_both_backends!(upload_put_wait_show_through_the_cli,);
