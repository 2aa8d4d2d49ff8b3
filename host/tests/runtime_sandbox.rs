//! The import policy against hand-written components: all of WASI 0.2 is
//! accepted and linked, capabilities that reach outside are denied with
//! WASI's own errors and named in a failure, everything else is refused at
//! upload with every refused import listed.

mod common;

use std::sync::Arc;

use common::{TestContext, component_of, dummy_component};
use serde_json::json;
use wasync::model::{FailureKind, ModuleDigest, RunOutcome};
use wasync::runtime::{
    ComponentLimits, JobCall, Limits, Prepared, Runtime, RuntimeConfig, ValidationError,
};

fn runtime() -> Runtime {
    Runtime::new(RuntimeConfig {
        max_concurrent_instances: 4,
        ..RuntimeConfig::default()
    })
    .expect("runtime")
}

async fn prepare(runtime: &Runtime, bytes: &[u8]) -> Result<Arc<Prepared>, ValidationError> {
    runtime.prepare(&ModuleDigest::of(bytes), bytes).await
}

/// A subset of `wasi:sockets@0.2.0`, type for type as WASI declares it:
/// enough to call `create-tcp-socket`.
const SOCKETS_WIT: &str = r#"
package wasi:sockets@0.2.0;

interface network {
  enum error-code {
    unknown, access-denied, not-supported, invalid-argument, out-of-memory,
    timeout, concurrency-conflict, not-in-progress, would-block,
    invalid-state, new-socket-limit, address-not-bindable, address-in-use,
    remote-unreachable, connection-refused, connection-reset,
    connection-aborted, datagram-too-large, name-unresolvable,
    temporary-resolver-failure, permanent-resolver-failure,
  }
  enum ip-address-family { ipv4, ipv6 }
}

interface tcp {
  resource tcp-socket;
}

interface tcp-create-socket {
  use network.{error-code, ip-address-family};
  use tcp.{tcp-socket};
  create-tcp-socket: func(address-family: ip-address-family) -> result<tcp-socket, error-code>;
}

world net-job {
  include wasync:job/job@0.3.0;
  import tcp-create-socket;
}
"#;

/// A guest that asks for a TCP socket. `code` returns the error code WASI
/// gave it as the value (`1` is `access-denied`); `trap` traps after the
/// refusal, as a job that cannot go on without the network would.
const SOCKET_GUEST_WAT: &str = r#"
(module
  (import "wasi:sockets/tcp-create-socket@0.2.0" "create-tcp-socket"
    (func $create_tcp_socket (param i32 i32)))
  (memory (export "memory") 1)
  (global $heap (mut i32) (i32.const 1024))
  (func (export "cabi_realloc")
    (param i32 i32 i32 i32) (result i32)
    (local $ptr i32)
    (local.set $ptr (global.get $heap))
    (global.set $heap (i32.add (global.get $heap) (local.get 3)))
    (local.get $ptr))
  (func (export "run") (param $fp i32) (param $fl i32) (param $ap i32) (param $al i32) (result i32)
    ;; create-tcp-socket(ipv4) -> result at 300: tag byte, payload at 304
    (call $create_tcp_socket (i32.const 0) (i32.const 300))
    (if (i32.eq (i32.load8_u (local.get $fp)) (i32.const 116)) ;; t
      (then (unreachable)))
    ;; the value: one JSON digit, the error code (or 9 if it succeeded)
    (i32.store8 (i32.const 400)
      (i32.add (i32.const 48)
        (select (i32.load8_u (i32.const 304)) (i32.const 9) (i32.load8_u (i32.const 300)))))
    (i32.store8 (i32.const 16) (i32.const 0))
    (i32.store8 (i32.const 20) (i32.const 0))
    (i32.store (i32.const 24) (i32.const 400))
    (i32.store (i32.const 28) (i32.const 1))
    (i32.const 16))
)
"#;

#[tokio::test]
async fn a_socket_is_denied_with_access_denied_and_named_in_a_failure() {
    let runtime = runtime();
    let bytes = component_of(SOCKETS_WIT, "net-job", SOCKET_GUEST_WAT);
    let prepared = prepare(&runtime, &bytes).await.expect("sockets are linked");
    let run = |function: &str| {
        let context = TestContext::new(&prepared.info.digest, function, json!([]));
        let call = JobCall {
            function: function.into(),
            args: json!([]),
        };
        runtime.run(&prepared, call, Limits::default(), context)
    };

    let report = run("code").await;
    assert_eq!(
        report.outcome,
        RunOutcome::Value(json!(1)),
        "the guest sees error-code::access-denied"
    );

    let report = run("trap").await;
    let RunOutcome::Failure(failure) = &report.outcome else {
        panic!("expected a failure, got {:?}", report.outcome);
    };
    assert_eq!(failure.kind, FailureKind::Trap);
    let detail = failure.detail.as_deref().unwrap_or_default();
    assert!(
        detail.contains("the sandbox denied:")
            && detail.contains("wasi:sockets/tcp-create-socket: create-tcp-socket"),
        "{detail}"
    );
}

#[tokio::test]
async fn filesystem_and_sockets_imports_are_accepted() {
    let runtime = runtime();
    let filesystem = r#"
        package wasi:filesystem@0.2.9;
        interface types { resource descriptor; }
        interface preopens {
          use types.{descriptor};
          get-directories: func() -> list<tuple<descriptor, string>>;
        }
        world fs-job { include wasync:job/job@0.3.0; import preopens; }
    "#;
    prepare(&runtime, &dummy_component(filesystem, "fs-job"))
        .await
        .expect("filesystem is linked");
    prepare(&runtime, &dummy_component(SOCKETS_WIT, "net-job"))
        .await
        .expect("sockets are linked");
}

#[tokio::test]
async fn every_refused_import_is_listed() {
    let runtime = runtime();
    let wit = r#"
        package acme:db@1.0.0;
        interface query { call: func(); }
        interface admin { call: func(); }
        world bad {
          include wasync:job/job@0.3.0;
          import query;
          import admin;
          import log: func(message: string);
        }
    "#;
    let err = prepare(&runtime, &dummy_component(wit, "bad"))
        .await
        .unwrap_err();
    let ValidationError::ForbiddenImports { names } = &err else {
        panic!("{err:?}");
    };
    let mut names = names.clone();
    names.sort();
    assert_eq!(names, ["acme:db/admin@1.0.0", "acme:db/query@1.0.0", "log"]);
    let message = err.to_string();
    for name in &names {
        assert!(message.contains(name), "{message}");
    }
}

#[tokio::test]
async fn every_allowed_name_with_another_type_is_refused_naming_it() {
    let runtime = runtime();
    // `outgoing-handler` and `ip-name-lookup` are WASI names with made-up
    // types; `tcp-create-socket` is right, and must not be listed.
    let wit = SOCKETS_WIT.replace(
        "world net-job {",
        "interface ip-name-lookup { resolve: func(name: string) -> u32; }\n\
             interface instance-network { instance-network: func(); }\n\
             world net-job {\n  import ip-name-lookup;\n  import instance-network;",
    );
    let err = prepare(&runtime, &dummy_component(&wit, "net-job"))
        .await
        .unwrap_err();
    let ValidationError::WrongImportTypes { imports } = &err else {
        panic!("{err:?}");
    };
    let mut names: Vec<&str> = imports.iter().map(|i| i.name.as_str()).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "wasi:sockets/instance-network@0.2.0",
            "wasi:sockets/ip-name-lookup@0.2.0"
        ],
        "{err}"
    );
    let message = err.to_string();
    assert!(
        message.contains("wasi:sockets/ip-name-lookup@0.2.0")
            && message.contains("wasi:sockets/instance-network@0.2.0"),
        "{message}"
    );
}

#[tokio::test]
async fn a_component_over_a_pool_limit_is_refused_naming_the_limit_and_its_figure() {
    let tight = Runtime::new(RuntimeConfig {
        max_concurrent_instances: 2,
        component_limits: ComponentLimits {
            core_instances: 1,
            ..ComponentLimits::default()
        },
        ..RuntimeConfig::default()
    })
    .expect("runtime");
    let bytes = common::guest();
    let err = prepare(&tight, &bytes).await.unwrap_err();
    let ValidationError::OverLimit {
        what,
        found,
        limit,
        setting,
    } = &err
    else {
        panic!("{err:?}");
    };
    assert_eq!(
        (*what, *limit, *setting),
        ("core instances", 1, "max_core_instances_per_component")
    );
    assert!(*found > 1, "{err}");
    let message = err.to_string();
    assert!(
        message.contains(&format!("has {found} core instances"))
            && message.contains("max_core_instances_per_component"),
        "{message}"
    );
    // The default limits take it.
    prepare(&runtime(), &bytes)
        .await
        .expect("fits the defaults");
}
