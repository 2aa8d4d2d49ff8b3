//! `fetch`: a job that calls another service over `wasi:http` (zc.async's
//! usage example is a network call). The host denies every request unless
//! the operator allowed its origin for the job's queue (docs/sandbox.md).
//!
//! Build: `cargo build --release --target wasm32-wasip2 -p wasync-example-fetch`
//! (→ `fetch.wasm`).

#![deny(missing_docs)]

use wasync_guest::job;

/// `GET url`: the response's status and body (as text), or the
/// `wasi:http` error code (kind `http-error`). A denied origin
/// (`HttpRequestDenied`) is a permanent error: retrying cannot help until
/// the operator allows it.
#[job]
pub fn get(url: String) -> Result<serde_json::Value, wasync_guest::Error> {
    let (status, body) = client::get(&url).map_err(|code| {
        let error = if code.contains("HttpRequestDenied") {
            wasync_guest::Error::permanent("http-error", code)
        } else {
            wasync_guest::Error::new("http-error", code)
        };
        error.with_detail(url)
    })?;
    Ok(serde_json::json!({ "status": status, "body": body }))
}

#[cfg(target_os = "wasi")]
mod client {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{Fields, OutgoingRequest, Scheme};

    /// The status and body of `GET url`, or the error code as text.
    pub fn get(url: &str) -> Result<(u16, String), String> {
        let (scheme, rest) = if let Some(rest) = url.strip_prefix("https://") {
            (Scheme::Https, rest)
        } else if let Some(rest) = url.strip_prefix("http://") {
            (Scheme::Http, rest)
        } else {
            return Err(format!("not an http(s) URL: {url}"));
        };
        let (authority, path) = match rest.find('/') {
            Some(at) => rest.split_at(at),
            None => (rest, "/"),
        };
        let request = OutgoingRequest::new(Fields::new());
        let set = request
            .set_scheme(Some(&scheme))
            .and(request.set_authority(Some(authority)))
            .and(request.set_path_with_query(Some(path)));
        set.map_err(|()| format!("invalid URL: {url}"))?;
        let response = outgoing_handler::handle(request, None).map_err(|e| format!("{e:?}"))?;
        response.subscribe().block();
        let response = response
            .get()
            .ok_or("no response")?
            .map_err(|()| "the response was already taken")?
            .map_err(|e| format!("{e:?}"))?;
        let status = response.status();
        let body = response.consume().map_err(|()| "no body")?;
        let stream = body.stream().map_err(|()| "no body stream")?;
        let mut bytes = Vec::new();
        loop {
            match stream.blocking_read(64 * 1024) {
                Ok(chunk) => bytes.extend_from_slice(&chunk),
                Err(wasip2::io::streams::StreamError::Closed) => break,
                Err(wasip2::io::streams::StreamError::LastOperationFailed(e)) => {
                    return Err(e.to_debug_string());
                }
            }
        }
        Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
    }
}

#[cfg(not(target_os = "wasi"))]
mod client {
    /// Natively there is no `wasi:http`: every request fails.
    pub fn get(_url: &str) -> Result<(u16, String), String> {
        Err("wasi:http is only available inside the sandbox".into())
    }
}

wasync_guest::export_jobs!(get);
