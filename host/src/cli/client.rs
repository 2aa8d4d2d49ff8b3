//! The HTTP client every client command uses. Requests and replies are
//! the API's wire types (`crate::wire`), the same the server parses and
//! answers; [`Client::send`] returns the raw JSON for the commands that
//! print replies as they come.

use reqwest::{Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::wire::ErrorBody;

/// The server the client commands talk to, by default.
pub const SERVER_DEFAULT: &str = "http://127.0.0.1:7411";

/// A failed request, with what the server said.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error.
    #[error("{message} ({status}, {code})")]
    Api {
        /// HTTP status.
        status: StatusCode,
        /// The error code of the body.
        code: String,
        /// The error message of the body.
        message: String,
    },
    /// The server could not be reached or answered nonsense.
    #[error("could not talk to the wasync server at {server}: {message}")]
    Transport {
        /// The server URL.
        server: String,
        /// What failed.
        message: String,
    },
}

impl ClientError {
    /// The HTTP status, if the server answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            ClientError::Transport { .. } => None,
        }
    }
}

/// A client of one wasync server.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    server: String,
    token: Option<String>,
}

/// A request body.
pub enum Body<'a, T: Serialize> {
    /// No body.
    None,
    /// A JSON body.
    Json(&'a T),
    /// Raw bytes.
    Bytes(Vec<u8>),
}

impl Client {
    /// A client of `server` (e.g. `http://127.0.0.1:7411`), sending `token`
    /// as a bearer token if given.
    pub fn new(server: &str, token: Option<String>) -> Self {
        Client {
            http: reqwest::Client::new(),
            server: server.trim_end_matches('/').to_owned(),
            token,
        }
    }

    /// Sends a request to `path` (under the server, e.g. `/v1/jobs`) and
    /// returns the JSON answer (`null` for an empty one).
    pub async fn send<T: Serialize>(
        &self,
        method: Method,
        path: &str,
        body: Body<'_, T>,
    ) -> Result<Value, ClientError> {
        let transport = |e: reqwest::Error| ClientError::Transport {
            server: self.server.clone(),
            message: e.to_string(),
        };
        let mut request = self.http.request(method, format!("{}{path}", self.server));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        request = match body {
            Body::None => request,
            Body::Json(value) => request.json(value),
            Body::Bytes(bytes) => request
                .header(reqwest::header::CONTENT_TYPE, "application/wasm")
                .body(bytes),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        let value: Value = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Transport {
                server: self.server.clone(),
                message: format!("the answer is not JSON ({e})"),
            })?
        };
        if status.is_success() {
            return Ok(value);
        }
        let error = serde_json::from_value::<ErrorBody>(value)
            .map(|body| body.error)
            .unwrap_or_else(|_| crate::wire::ErrorDetail {
                code: "unknown".into(),
                message: "(no message)".into(),
                functions: None,
                holder: None,
            });
        Err(ClientError::Api {
            status,
            code: error.code,
            message: error.message,
        })
    }

    /// Sends a request and reads the answer as `R`, a wire type.
    pub async fn call<T: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Body<'_, T>,
    ) -> Result<R, ClientError> {
        let value = self.send(method, path, body).await?;
        serde_json::from_value(value).map_err(|e| ClientError::Transport {
            server: self.server.clone(),
            message: format!("the answer is not what the API documents ({e})"),
        })
    }

    /// `GET path`, read as `R`.
    pub async fn get_as<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.call::<(), R>(Method::GET, path, Body::None).await
    }

    /// `POST path` with a JSON body, read as `R`.
    pub async fn post_as<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, ClientError> {
        self.call(Method::POST, path, Body::Json(body)).await
    }

    /// `PATCH path` with a JSON body, read as `R`.
    pub async fn patch_as<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, ClientError> {
        self.call(Method::PATCH, path, Body::Json(body)).await
    }

    /// `PUT path` with a JSON body, read as `R`.
    pub async fn put_as<T: Serialize, R: DeserializeOwned>(
        &self,
        path: &str,
        body: &T,
    ) -> Result<R, ClientError> {
        self.call(Method::PUT, path, Body::Json(body)).await
    }

    /// `DELETE path`, read as `R`.
    pub async fn delete_as<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.call::<(), R>(Method::DELETE, path, Body::None).await
    }

    /// `POST path` without a body, read as `R`.
    pub async fn post_empty_as<R: DeserializeOwned>(&self, path: &str) -> Result<R, ClientError> {
        self.call::<(), R>(Method::POST, path, Body::None).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Result<Value, ClientError> {
        self.send::<()>(Method::GET, path, Body::None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post<T: Serialize>(&self, path: &str, body: &T) -> Result<Value, ClientError> {
        self.send(Method::POST, path, Body::Json(body)).await
    }

    /// `PUT path` with a JSON body.
    pub async fn put<T: Serialize>(&self, path: &str, body: &T) -> Result<Value, ClientError> {
        self.send(Method::PUT, path, Body::Json(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch<T: Serialize>(&self, path: &str, body: &T) -> Result<Value, ClientError> {
        self.send(Method::PATCH, path, Body::Json(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> Result<Value, ClientError> {
        self.send::<()>(Method::DELETE, path, Body::None).await
    }
}

/// A path segment, percent-encoded (queue and module names may hold `/`
/// or `:`).
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// The path spelling of a queue name (`""` is `default`).
pub fn queue_segment(queue: &str) -> String {
    if queue.is_empty() {
        crate::service::DEFAULT_QUEUE_ALIAS.to_owned()
    } else {
        segment(queue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(segment("reports/daily"), "reports%2Fdaily");
        assert_eq!(segment("sha256:ab"), "sha256%3Aab");
        assert_eq!(queue_segment(""), "default");
    }
}
