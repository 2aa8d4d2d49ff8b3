//! The HTTP client of one server: each answer is its status and its JSON
//! body (a body that is not JSON fails the test), plus the few calls most
//! tests make (upload an example, put a job, wait for it).

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::DEADLINE;

/// A plain HTTP client of one server; answers are `(status, JSON)`.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Http {
    /// A client of `base`.
    pub fn new(base: &str, token: Option<String>) -> Http {
        Http {
            client: reqwest::Client::new(),
            base: base.to_owned(),
            token,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let request = match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        };
        let response = request.send().await.expect("request reaches the server");
        let status = response.status();
        let bytes = response.bytes().await.expect("body");
        let value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{status}: the answer is not JSON: {}",
                    String::from_utf8_lossy(&bytes)
                )
            })
        };
        (status, value)
    }

    /// `GET`.
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.get(format!("{}{path}", self.base)))
            .await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// `POST` with a raw body.
    pub async fn post_bytes(&self, path: &str, body: Vec<u8>) -> (StatusCode, Value) {
        self.send(self.client.post(format!("{}{path}", self.base)).body(body))
            .await
    }

    /// `POST` with a raw body of a given content type.
    pub async fn post_typed(
        &self,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.send(
            self.client
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body),
        )
        .await
    }

    /// `PUT` with a JSON body.
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.client.put(format!("{}{path}", self.base)).json(&body))
            .await
    }

    /// `PATCH` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            self.client
                .patch(format!("{}{path}", self.base))
                .json(&body),
        )
        .await
    }

    /// `DELETE`.
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.client.delete(format!("{}{path}", self.base)))
            .await
    }

    /// `GET` that must succeed.
    pub async fn ok(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert!(status.is_success(), "GET {path}: {status} {body}");
        body
    }

    /// Uploads an example component under its own name.
    pub async fn upload_example(&self, name: &str) -> Value {
        let bytes = wasync_example_components::bytes(name);
        let (status, body) = self
            .post_bytes(&format!("/v1/modules?name={name}"), bytes)
            .await;
        assert_eq!(status, StatusCode::CREATED, "upload {name}: {body}");
        body
    }

    /// Puts a job and returns it.
    pub async fn put_job(&self, module: &str, function: &str, args: Value) -> Value {
        self.put_job_with(json!({"module": module, "function": function, "args": args}))
            .await
    }

    /// Puts a job described by `body` and returns it.
    pub async fn put_job_with(&self, body: Value) -> Value {
        let (status, job) = self.post("/v1/jobs", body.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "put {body}: {job}");
        job
    }

    /// Waits until the job completes and returns it.
    pub async fn wait_completed(&self, id: &str) -> Value {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let job = self.ok(&format!("/v1/jobs/{id}/wait?timeout=5s")).await;
            if job["status"] == "completed" {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job {id} did not complete: {job}"
            );
        }
    }

    /// The id of the (one) active dispatcher.
    pub async fn dispatcher_id(&self) -> String {
        let answer = self.ok("/v1/dispatchers").await;
        let active: Vec<&Value> = answer["dispatchers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d.get("deactivated_at").is_none())
            .collect();
        assert_eq!(active.len(), 1, "{answer}");
        active[0]["id"].as_str().unwrap().to_owned()
    }
}
