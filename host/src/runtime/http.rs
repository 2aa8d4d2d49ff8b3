//! Outgoing HTTP from jobs (`wasi:http/outgoing-handler`): denied unless
//! the operator allows the request's origin for the job's queue, like
//! Spin's `allowed_outbound_hosts`.
//!
//! A denied request fails in the guest with WASI's own
//! `error-code::HTTP-request-denied`, so it sees an ordinary error it can
//! handle; the denial is remembered and named in the detail of the job's
//! failure if the job then fails. An allowed request is sent by
//! wasmtime-wasi-http's own client with every timeout (connect, first
//! byte, between bytes) capped at [`HttpConfig::timeout`], and its
//! response body cut off with `HTTP-response-body-size` past
//! [`HttpConfig::max_response_bytes`]. Every request a job makes, allowed
//! or denied, is counted ([`HttpUsage`]).

use std::fmt;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame};
use http_body_util::BodyExt as _;
use wasmtime_wasi_http::{Error as HttpError, RequestOptions, WasiBody, WasiHttpHooks};

use super::sandbox::Denials;

/// How long an outgoing request may wait to connect, for its first
/// response byte, and between two bytes, by default.
pub const HTTP_TIMEOUT_DEFAULT: Duration = Duration::from_secs(30);
/// The largest response body a job may read by default: 16 MiB.
pub const HTTP_RESPONSE_MAX_DEFAULT: u64 = 16 << 20;

/// Which origins jobs may send HTTP requests to, and the limits of each
/// request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// The allowed origins. Empty (the default): every request is denied.
    pub allow: Vec<HttpAllow>,
    /// The cap of each timeout of a request (connect, first byte, between
    /// bytes). Default [`HTTP_TIMEOUT_DEFAULT`].
    pub timeout: Duration,
    /// The largest response body, in bytes. Default
    /// [`HTTP_RESPONSE_MAX_DEFAULT`].
    pub max_response_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            allow: Vec::new(),
            timeout: HTTP_TIMEOUT_DEFAULT,
            max_response_bytes: HTTP_RESPONSE_MAX_DEFAULT,
        }
    }
}

impl HttpConfig {
    /// The origins the jobs of `queue` may reach.
    pub fn origins_for(&self, queue: &str) -> Vec<Origin> {
        self.allow
            .iter()
            .filter(|a| a.queue.as_deref().is_none_or(|q| q == queue))
            .map(|a| a.origin.clone())
            .collect()
    }
}

/// One allowance: an origin, for the jobs of one queue or of every queue.
///
/// Written `ORIGIN` (every queue) or `QUEUE=ORIGIN`, e.g.
/// `fetch=https://api.example.com`; the default queue is `=ORIGIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpAllow {
    /// The queue whose jobs may reach it; `None`: every queue.
    pub queue: Option<String>,
    /// The origin.
    pub origin: Origin,
}

impl FromStr for HttpAllow {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (queue, origin) = match text.split_once('=') {
            Some((queue, origin)) => (Some(queue.to_owned()), origin),
            None => (None, text),
        };
        Ok(HttpAllow {
            queue,
            origin: origin.parse()?,
        })
    }
}

impl fmt::Display for HttpAllow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.queue {
            Some(queue) => write!(f, "{queue}={}", self.origin),
            None => write!(f, "{}", self.origin),
        }
    }
}

/// A scheme, host and port: `http://127.0.0.1:8080`,
/// `https://api.example.com` (port 443 implied).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Origin {
    scheme: String,
    host: String,
    port: u16,
}

impl Origin {
    /// The origin of a request's URI, if it has a scheme and a host.
    fn of_uri(uri: &http::Uri) -> Option<Origin> {
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let host = uri.host()?.to_ascii_lowercase();
        let port = uri.port_u16().or(default_port(&scheme))?;
        Some(Origin { scheme, host, port })
    }
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

impl FromStr for Origin {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let bad = |why: &str| {
            format!(
                "`{text}` is not an HTTP origin ({why}); write e.g. `https://api.example.com` or `http://127.0.0.1:8080`"
            )
        };
        let url = url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
        let scheme = url.scheme().to_owned();
        if default_port(&scheme).is_none() {
            return Err(bad("the scheme must be http or https"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("no user or password"));
        }
        if url.path() != "/" || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("no path, query or fragment"));
        }
        let host = url
            .host_str()
            .ok_or_else(|| bad("no host"))?
            .to_ascii_lowercase();
        let port = url.port_or_known_default().ok_or_else(|| bad("no port"))?;
        Ok(Origin { scheme, host, port })
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if default_port(&self.scheme) == Some(self.port) {
            write!(f, "{}://{}", self.scheme, self.host)
        } else {
            write!(f, "{}://{}:{}", self.scheme, self.host, self.port)
        }
    }
}

/// The HTTP requests of one run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct HttpUsage {
    /// Requests sent (the origin was allowed).
    pub requests: u64,
    /// Requests denied (the origin was not allowed).
    pub denied: u64,
    /// Response body bytes the job read.
    pub response_bytes: u64,
}

impl HttpUsage {
    /// True when the job made no request at all.
    pub fn is_empty(&self) -> bool {
        self.requests == 0 && self.denied == 0
    }
}

/// The `wasi:http` hooks of one job's store: the policy check, the
/// counters and the capped client.
pub(crate) struct JobHttp {
    allowed: Vec<Origin>,
    timeout: Duration,
    max_response_bytes: u64,
    requests: u64,
    denied: u64,
    response_bytes: Arc<AtomicU64>,
    denials: Denials,
}

impl JobHttp {
    /// The hooks for a job of `queue` under `config`.
    pub(crate) fn new(config: &HttpConfig, queue: &str) -> JobHttp {
        JobHttp {
            allowed: config.origins_for(queue),
            timeout: config.timeout,
            max_response_bytes: config.max_response_bytes,
            requests: 0,
            denied: 0,
            response_bytes: Arc::default(),
            denials: Denials::default(),
        }
    }

    /// What the job did so far.
    pub(crate) fn usage(&self) -> HttpUsage {
        HttpUsage {
            requests: self.requests,
            denied: self.denied,
            response_bytes: self.response_bytes.load(Ordering::Relaxed),
        }
    }

    /// The requests that were denied, for a failure's detail.
    pub(crate) fn denials(&self) -> &Denials {
        &self.denials
    }

    fn capped(&self, asked: Option<RequestOptions>) -> RequestOptions {
        let cap =
            |asked: Option<Duration>| Some(asked.map_or(self.timeout, |t| t.min(self.timeout)));
        let asked = asked.unwrap_or_default();
        RequestOptions {
            connect_timeout: cap(asked.connect_timeout),
            first_byte_timeout: cap(asked.first_byte_timeout),
            between_bytes_timeout: cap(asked.between_bytes_timeout),
        }
    }
}

type IoFuture = Box<dyn Future<Output = Result<(), HttpError>> + Send>;

impl WasiHttpHooks for JobHttp {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _fut: IoFuture,
    ) -> Box<dyn Future<Output = Result<(http::Response<WasiBody>, IoFuture), HttpError>> + Send>
    {
        let origin = Origin::of_uri(request.uri());
        if !origin.as_ref().is_some_and(|o| self.allowed.contains(o)) {
            self.denied += 1;
            let target = origin.map_or_else(|| request.uri().to_string(), |o| o.to_string());
            self.denials.record(format!(
                "wasi:http/outgoing-handler: {} {target} (origin not allowed for this queue)",
                request.method()
            ));
            return Box::new(async { Err(HttpError::HttpRequestDenied) });
        }
        self.requests += 1;
        let options = self.capped(options);
        let cap = self.max_response_bytes;
        let counter = self.response_bytes.clone();
        Box::new(async move {
            let (response, io) =
                wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
            let response = response.map(|body| {
                CappedBody {
                    inner: body.boxed_unsync(),
                    cap,
                    counter,
                }
                .boxed_unsync()
            });
            Ok((response, Box::new(io) as IoFuture))
        })
    }
}

/// A response body that fails with `HTTP-response-body-size` once more
/// than `cap` bytes have come, counting them into `counter`.
struct CappedBody {
    inner: WasiBody,
    cap: u64,
    counter: Arc<AtomicU64>,
}

impl Body for CappedBody {
    type Data = Bytes;
    type Error = HttpError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, HttpError>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            let total =
                self.counter.fetch_add(data.len() as u64, Ordering::Relaxed) + data.len() as u64;
            if total > self.cap {
                return Poll::Ready(Some(Err(HttpError::HttpResponseBodySize(Some(total)))));
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_and_match_by_scheme_host_and_port() {
        let origin: Origin = "https://API.example.com".parse().unwrap();
        assert_eq!(origin.to_string(), "https://api.example.com");
        let uri: http::Uri = "https://api.example.com:443/v1/x?y=1".parse().unwrap();
        assert_eq!(Origin::of_uri(&uri), Some(origin.clone()));
        let other: http::Uri = "http://api.example.com/v1".parse().unwrap();
        assert_ne!(Origin::of_uri(&other), Some(origin));
        let local: Origin = "http://127.0.0.1:8080/".parse().unwrap();
        assert_eq!(local.to_string(), "http://127.0.0.1:8080");
        for bad in [
            "ftp://example.com",
            "https://example.com/path",
            "https://user@example.com",
            "example.com",
        ] {
            let err = bad.parse::<Origin>().unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn allowances_are_per_queue_or_for_every_queue() {
        let config = HttpConfig {
            allow: vec![
                "fetch=http://127.0.0.1:9000".parse().unwrap(),
                "https://api.example.com".parse().unwrap(),
            ],
            ..HttpConfig::default()
        };
        assert_eq!(config.origins_for("fetch").len(), 2);
        assert_eq!(
            config.origins_for("other"),
            ["https://api.example.com".parse::<Origin>().unwrap()]
        );
        assert_eq!(config.allow[0].to_string(), "fetch=http://127.0.0.1:9000");
        assert!(HttpConfig::default().origins_for("").is_empty());
    }
}
