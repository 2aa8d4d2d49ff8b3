//! Tokens: stored by the hash of their secret, found by it, revoked; the
//! token each job, upload and schedule records.

use uuid::Uuid;

use super::Harness;
use super::kit::*;
use crate::model::{
    CallbackOn, JobLink, LinkedJob, ModuleDigest, ScheduleId, Scope, Token, TokenId,
};
use crate::store::ModuleUpload;

fn token(name: &str, queues: &[&str], scopes: &[Scope]) -> Token {
    Token {
        id: TokenId(Uuid::now_v7()),
        name: name.to_owned(),
        queues: queues.iter().map(|q| q.to_string()).collect(),
        scopes: scopes.to_vec(),
        created_at: t(5),
    }
}

fn hash(tag: char) -> String {
    std::iter::repeat_n(tag, 64).collect()
}

pub(crate) async fn tokens_are_found_by_hash_and_revoked<H: Harness>(h: H) {
    let s = h.store();
    let alice = token("alice", &["a*", "b"], &[Scope::Read, Scope::Put]);
    assert_eq!(s.token_insert(&alice, &hash('a')).await.unwrap(), alice);
    let bob = token("bob", &["*"], &[Scope::Admin]);
    s.token_insert(&bob, &hash('b')).await.unwrap();
    let again = token("alice", &["c"], &[Scope::Read]);
    assert_conflict(s.token_insert(&again, &hash('c')).await, &["alice"]);

    assert_eq!(
        s.token_by_hash(&hash('a')).await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.token_by_hash(&hash('c')).await.unwrap(), None);
    assert_eq!(s.token_get(bob.id).await.unwrap(), Some(bob.clone()));
    assert_eq!(
        s.token_list().await.unwrap(),
        vec![alice.clone(), bob.clone()]
    );

    s.token_delete("alice").await.unwrap();
    assert_eq!(s.token_by_hash(&hash('a')).await.unwrap(), None);
    assert_eq!(s.token_get(alice.id).await.unwrap(), None);
    assert_not_found(s.token_delete("alice").await, &["alice"]);
    // The name is free again; the new token is another id.
    let reborn = token("alice", &["z"], &[Scope::Read]);
    s.token_insert(&reborn, &hash('d')).await.unwrap();
    assert_ne!(reborn.id, alice.id);
    assert_eq!(s.token_list().await.unwrap(), vec![reborn, bob]);
}

pub(crate) async fn jobs_record_the_token_they_were_put_with<H: Harness>(h: H) {
    let s = h.store();
    let m = module(&*s, "one", None).await;
    let id = TokenId(Uuid::now_v7());
    let mine = crate::model::NewJob {
        token: Some(id),
        ..new_job("", &m, "f", t(0))
    };
    let stored = put(&*s, vec![mine, new_job("", &m, "f", t(0))]).await;
    assert_eq!(s.job_token(stored[0].id).await.unwrap(), Some(id));
    assert_eq!(s.job_token(stored[1].id).await.unwrap(), None);

    // Jobs inserted with their links (callbacks, parts) keep theirs too.
    let callback = crate::model::NewJob {
        token: Some(id),
        ..new_job("", &m, "cb", t(1))
    };
    let callback_id = callback.id;
    s.job_insert_linked(
        &[LinkedJob {
            job: callback,
            held: true,
            link: Some(JobLink::Callback {
                of: stored[0].id,
                on: CallbackOn::Always,
            }),
        }],
        t(1),
    )
    .await
    .unwrap();
    assert_eq!(s.job_token(callback_id).await.unwrap(), Some(id));
    assert_not_found(s.job_token(crate::model::JobId::new()).await, &["job"]);
}

pub(crate) async fn uploads_and_schedules_record_their_token<H: Harness>(h: H) {
    let s = h.store();
    let one = module(&*s, "one", None).await;
    let two = module(&*s, "two", None).await;
    let id = TokenId(Uuid::now_v7());
    for _ in 0..2 {
        s.module_upload_record(&one.digest, Some(id), t(1))
            .await
            .unwrap();
        s.module_upload_record(&one.digest, None, t(2))
            .await
            .unwrap();
    }
    s.module_upload_record(&two.digest, Some(id), t(3))
        .await
        .unwrap();
    let mut uploads = s.module_uploads().await.unwrap();
    uploads.sort_by_key(|u| (u.digest.to_string(), u.token));
    let mut expected = vec![
        ModuleUpload {
            digest: one.digest.clone(),
            token: None,
        },
        ModuleUpload {
            digest: one.digest.clone(),
            token: Some(id),
        },
        ModuleUpload {
            digest: two.digest.clone(),
            token: Some(id),
        },
    ];
    expected.sort_by_key(|u| (u.digest.to_string(), u.token));
    assert_eq!(uploads, expected);
    let mut uploaders = s.module_uploaders(&one.digest).await.unwrap();
    uploaders.sort();
    assert_eq!(uploaders, vec![None, Some(id)]);
    assert_eq!(
        s.module_uploaders(&ModuleDigest::of(b"x")).await.unwrap(),
        vec![]
    );
    let unknown = ModuleDigest::of(b"never uploaded");
    assert_not_found(
        s.module_upload_record(&unknown, None, t(4)).await,
        &["module"],
    );
    // A deleted module takes its uploads with it.
    s.module_delete(&two.digest).await.unwrap();
    assert_eq!(s.module_uploads().await.unwrap().len(), 2);

    let schedule = s
        .schedule_insert(&super::schedules::delay("tick", 1_000, 100, t(10)))
        .await
        .unwrap();
    assert_eq!(s.schedule_token(schedule.id).await.unwrap(), None);
    s.schedule_token_set(schedule.id, id).await.unwrap();
    assert_eq!(s.schedule_token(schedule.id).await.unwrap(), Some(id));
    assert_not_found(
        s.schedule_token_set(ScheduleId::new(), id).await,
        &["schedule"],
    );
    s.schedule_delete("tick").await.unwrap();
    assert_eq!(s.schedule_token(schedule.id).await.unwrap(), None);
}
