//! Modules, annotations, dispatchers and agents.

use serde_json::json;

use super::Harness;
use super::kit::*;
use crate::model::{AgentFilter, AgentSpec, DispatcherId, JobId, ModuleDigest, RunOutcome};
use crate::store::{
    AnnotationSetParams, DispatcherActivateParams, DispatcherPingParams, JobStartParams,
    ModuleInsertParams, Ping, Vacancy,
};

pub(crate) async fn modules_by_digest_and_name<H: Harness>(h: H) {
    let s = h.store();
    let one = module(&*s, "one", Some("hello")).await;
    assert_eq!(one.digest, ModuleDigest::of(&component("one")));
    assert_eq!(one.size, component("one").len() as u64);
    assert_eq!((one.name.as_deref(), one.created_at), (Some("hello"), t(0)));
    assert_eq!(s.module_get("hello").await.unwrap(), one);
    assert_eq!(s.module_get(one.digest.as_str()).await.unwrap(), one);
    assert_eq!(s.module_bytes(&one.digest).await.unwrap(), component("one"));

    // Idempotent by digest: the name and first upload time stay.
    let again = s
        .module_insert(ModuleInsertParams {
            digest: one.digest.clone(),
            name: None,
            bytes: component("one"),
            exports: one.exports.clone(),
            now: t(9),
        })
        .await
        .unwrap();
    assert_eq!(again, one);
    let job = put(&*s, vec![new_job("", &one, "f", t(1))]).await.remove(0);

    // The name moves to the newest upload that claims it, like a tag.
    let bytes = component("two");
    let two = s
        .module_insert(ModuleInsertParams {
            digest: ModuleDigest::of(&bytes),
            name: Some("hello".to_owned()),
            bytes,
            exports: vec![],
            now: t(1),
        })
        .await
        .unwrap();
    assert_eq!(s.module_get("hello").await.unwrap(), two);
    assert_eq!(s.module_get(one.digest.as_str()).await.unwrap().name, None);
    let kept = s.job_get(job.id).await.unwrap();
    assert_eq!(
        (kept.module, kept.module_name.as_deref()),
        (one.digest.clone(), Some("hello"))
    );
    let listed = s.module_list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!((&listed[0].digest, &listed[1]), (&one.digest, &two));

    let back = module(&*s, "one", Some("hello")).await;
    assert_eq!(
        (back.digest, back.name.as_deref()),
        (one.digest.clone(), Some("hello"))
    );
    assert_eq!(s.module_get(two.digest.as_str()).await.unwrap().name, None);

    assert_not_found(s.module_get("nope").await, &["module `nope`"]);
    let unknown = ModuleDigest::of(b"unknown");
    assert_not_found(s.module_get(unknown.as_str()).await, &[unknown.as_str()]);
    assert_not_found(s.module_bytes(&unknown).await, &["module sha256:"]);
}

pub(crate) async fn module_delete_refused_while_referenced<H: Harness>(h: H) {
    let s = h.store();
    let used = module(&*s, "used", Some("used")).await;
    let unused = module(&*s, "unused", None).await;
    let id = put_n(&*s, "", &used, 1).await[0];
    let d = dispatcher(&*s).await;
    assert_conflict(s.module_delete(&used.digest).await, &["used by 1 job"]);
    run(&*s, d, "", 1, t(1)).await;
    finish(&*s, d, id, RunOutcome::Value(json!(1)), t(2)).await;
    assert_conflict(s.module_delete(&used.digest).await, &["used by 1 job"]);
    assert_eq!(s.module_get("used").await.unwrap().digest, used.digest);

    s.module_delete(&unused.digest).await.unwrap();
    assert_not_found(s.module_get(unused.digest.as_str()).await, &["module"]);
    assert_not_found(s.module_delete(&unused.digest).await, &["module sha256:"]);
}

pub(crate) async fn annotations_set_get_list<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    let id = put_n(&*s, "", &m, 1).await[0];
    let d = dispatcher(&*s).await;
    run(&*s, d, "", 1, t(1)).await;
    let set = |job: JobId, name: &str, value: serde_json::Value| AnnotationSetParams {
        job,
        name: name.to_owned(),
        value,
        now: t(2),
    };

    assert_eq!(s.annotation_get(id, "progress").await.unwrap(), None);
    assert!(s.annotation_list(id).await.unwrap().is_empty());
    s.annotation_set(set(id, "progress", json!(0.5)))
        .await
        .unwrap();
    // Committed at once: another process sees it while the job runs.
    let watcher = h.another().await;
    assert_eq!(
        watcher.annotation_get(id, "progress").await.unwrap(),
        Some(json!(0.5))
    );
    s.annotation_set(set(id, "progress", json!(0.75)))
        .await
        .unwrap();
    s.annotation_set(set(id, "eta", json!({"seconds": 10})))
        .await
        .unwrap();
    assert_eq!(
        s.annotation_get(id, "progress").await.unwrap(),
        Some(json!(0.75))
    );
    assert_eq!(
        s.annotation_list(id).await.unwrap(),
        [
            ("eta".to_owned(), json!({"seconds": 10})),
            ("progress".to_owned(), json!(0.75)),
        ]
    );

    let nobody = JobId::new();
    assert_not_found(s.annotation_set(set(nobody, "x", json!(1))).await, &["job"]);
    assert_not_found(s.annotation_get(nobody, "x").await, &["job"]);
    assert_not_found(s.annotation_list(nobody).await, &[&nobody.to_string()]);
}

pub(crate) async fn dispatchers_activate_ping_deactivate<H: Harness>(h: H) {
    let s = h.store();
    let id = DispatcherId::new();
    let activate = |pid: u32, now| DispatcherActivateParams {
        poll_interval_ms: u64::MAX,
        ..activation(id, process("worker-1", pid), now)
    };
    let ping = |now| DispatcherPingParams {
        id,
        process: process("worker-1", 100),
        now,
    };
    let first = s.dispatcher_activate(activate(100, t(0))).await.unwrap();
    assert_eq!(first.takeover, None, "a new id");
    let info = first.info;
    assert_eq!(
        (info.id, info.hostname.as_str(), info.pid),
        (id, "worker-1", 100)
    );
    assert_eq!(
        (info.activated_at, info.last_ping_at, info.deactivated_at),
        (t(0), t(0), None)
    );
    assert_eq!(info.poll_interval_ms, u64::MAX);
    assert_eq!(s.dispatcher_get(id).await.unwrap(), info);

    assert_eq!(
        s.dispatcher_ping(ping(t(30_000))).await.unwrap(),
        Ping::Alive
    );
    assert_eq!(s.dispatcher_get(id).await.unwrap().last_ping_at, t(30_000));
    s.dispatcher_deactivate(id, t(40_000)).await.unwrap();
    assert_eq!(
        s.dispatcher_get(id).await.unwrap().deactivated_at,
        Some(t(40_000))
    );
    let again = s
        .dispatcher_activate(activate(200, t(50_000)))
        .await
        .unwrap();
    assert_eq!(
        again.takeover.map(|t| t.vacancy),
        Some(Vacancy::Stopped),
        "a stopped dispatcher's id is free"
    );
    let again = again.info;
    assert_eq!(
        (again.pid, again.activated_at, again.deactivated_at),
        (200, t(50_000), None)
    );

    let other = dispatcher(&*s).await;
    let mut expected = vec![id, other];
    expected.sort();
    let listed: Vec<DispatcherId> = s
        .dispatcher_list()
        .await
        .unwrap()
        .iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(listed, expected);

    let nobody = DispatcherId::new();
    assert_not_found(s.dispatcher_get(nobody).await, &["dispatcher"]);
    assert_not_found(
        s.dispatcher_ping(DispatcherPingParams {
            id: nobody,
            ..ping(t(1))
        })
        .await,
        &[&nobody.to_string()],
    );
    assert_not_found(s.dispatcher_deactivate(nobody, t(1)).await, &["dispatcher"]);
}

pub(crate) async fn agents_upsert_list_delete<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("q", t(0)).await.unwrap();
    let d = dispatcher(&*s).await;
    let other = dispatcher(&*s).await;

    let main = s.agent_upsert(d, AgentSpec::new("", "main")).await.unwrap();
    assert_eq!((main.dispatcher, main.spec.size), (d, 3));
    let mut images = AgentSpec {
        name: "images".to_owned(),
        queue: "q".to_owned(),
        size: 8,
        filter: Some(AgentFilter {
            modules: vec!["image-*".to_owned()],
            functions: vec!["resize".to_owned()],
        }),
        prefer: Some(AgentFilter {
            modules: Vec::new(),
            functions: vec!["thumb*".to_owned()],
        }),
        fuel_cap: Some(u64::MAX),
        memory_cap: Some(1 << 30),
        time_cap_ms: Some(60_000),
    };
    s.agent_upsert(d, images.clone()).await.unwrap();
    s.agent_upsert(other, AgentSpec::new("", "main"))
        .await
        .unwrap();
    images.size = 2;
    s.agent_upsert(d, images.clone()).await.unwrap();
    let mine = s.agent_list(Some(d)).await.unwrap();
    assert_eq!(
        mine.iter().map(|a| &a.spec).collect::<Vec<_>>(),
        [&main.spec, &images]
    );
    assert_eq!(s.agent_list(None).await.unwrap().len(), 3);

    assert_not_found(
        s.agent_upsert(d, AgentSpec::new("nope", "x")).await,
        &["queue `nope`"],
    );
    let nobody = DispatcherId::new();
    assert_not_found(
        s.agent_upsert(nobody, AgentSpec::new("", "x")).await,
        &["dispatcher"],
    );

    // An agent holding jobs stays until they finish.
    let id = put_n(&*s, "", &m, 1).await[0];
    claim(&*s, d, "", 1, t(1)).await;
    assert_conflict(s.agent_delete(d, "", "main").await, &["`main`", "holds 1"]);
    s.job_start_many(JobStartParams {
        dispatcher: d,
        ids: vec![id],
        now: t(2),
    })
    .await
    .unwrap();
    assert_conflict(s.agent_delete(d, "", "main").await, &["holds 1"]);
    s.agent_delete(other, "", "main").await.unwrap();
    finish(&*s, d, id, RunOutcome::Value(json!(1)), t(3)).await;
    s.agent_delete(d, "", "main").await.unwrap();
    assert_eq!(s.agent_list(Some(d)).await.unwrap().len(), 1);
    assert_not_found(s.agent_delete(d, "", "main").await, &["agent `main`"]);
}

/// Room elsewhere (for a job claimed ahead that waits too long): an agent
/// of the queue of another dispatcher, active and not paused, holding
/// fewer jobs (assigned or active) than its size.
pub(crate) async fn room_elsewhere_is_another_live_agent_below_its_size<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "m", None).await;
    s.queue_create("q", t(0)).await.unwrap();
    let busy = dispatcher(&*s).await;
    let idle = dispatcher(&*s).await;
    assert!(
        !s.agent_room_elsewhere("q", busy).await.unwrap(),
        "no agent"
    );

    let mut two = AgentSpec::new("q", "main");
    two.size = 2;
    s.agent_upsert(busy, two.clone()).await.unwrap();
    assert!(
        !s.agent_room_elsewhere("q", busy).await.unwrap(),
        "its own agent is no room elsewhere"
    );
    assert!(s.agent_room_elsewhere("q", idle).await.unwrap());
    s.agent_upsert(idle, AgentSpec::new("", "main"))
        .await
        .unwrap();
    assert!(
        !s.agent_room_elsewhere("q", busy).await.unwrap(),
        "an agent of another queue"
    );

    // Claimed and started jobs count, up to the agent's size.
    s.agent_upsert(idle, two).await.unwrap();
    put_n(&*s, "q", &m, 3).await;
    claim(&*s, idle, "q", 1, t(1)).await;
    assert!(s.agent_room_elsewhere("q", busy).await.unwrap(), "1 of 2");
    run(&*s, idle, "q", 1, t(2)).await;
    assert!(!s.agent_room_elsewhere("q", busy).await.unwrap(), "2 of 2");
    assert!(
        s.agent_room_elsewhere("q", idle).await.unwrap(),
        "busy's 0 of 2"
    );

    // A paused or stopped dispatcher takes nothing.
    s.dispatcher_pause(busy, t(3)).await.unwrap();
    assert!(!s.agent_room_elsewhere("q", idle).await.unwrap(), "paused");
    s.dispatcher_resume(busy).await.unwrap();
    assert!(s.agent_room_elsewhere("q", idle).await.unwrap(), "resumed");
    s.dispatcher_deactivate(busy, t(4)).await.unwrap();
    assert!(!s.agent_room_elsewhere("q", idle).await.unwrap(), "stopped");
}
