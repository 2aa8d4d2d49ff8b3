//! What WASI a job gets: all of WASI 0.2 is linked, with every capability
//! that reaches outside the sandbox closed.
//!
//! - `cli`, `clocks`, `random`, `io`: real (stdout and stderr captured, an
//!   empty stdin, no environment variables, no arguments).
//! - `filesystem`: linked with no preopened directory, so a job can never
//!   hold a descriptor.
//! - `sockets`: linked; creating a TCP or UDP socket and resolving a name
//!   fail with `error-code::access-denied`.
//! - `http`: linked; a request fails with `HTTP-request-denied` unless the
//!   operator allowed its origin ([`super::http`]).
//!
//! Every denial is remembered in the store ([`Denials`]) so that a job
//! that fails afterwards says which capability it was refused.

use wasmtime::component::{HasData, Resource};
use wasmtime_wasi::p2::bindings::sockets::{
    ip_name_lookup, network, network::IpAddressFamily, tcp_create_socket, udp_create_socket,
};
use wasmtime_wasi::p2::{SocketError, SocketResult, TcpSocket, UdpSocket};
use wasmtime_wasi::sockets::WasiSocketsCtxView;

/// The most distinct denials remembered per job.
const DENIALS_MAX: usize = 8;

/// The capabilities a job was refused, in order, without repeats.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Denials {
    seen: Vec<String>,
    more: u64,
}

impl Denials {
    /// Remembers one refusal.
    pub(crate) fn record(&mut self, what: String) {
        tracing::debug!(denied = %what, "sandbox denied a capability");
        if self.seen.contains(&what) {
            return;
        }
        if self.seen.len() < DENIALS_MAX {
            self.seen.push(what);
        } else {
            self.more += 1;
        }
    }

    /// The lines for a failure's detail, empty when nothing was denied.
    pub(crate) fn lines(&self) -> impl Iterator<Item = String> + '_ {
        let more = (self.more > 0).then(|| format!("... and {} more", self.more));
        self.seen.iter().cloned().chain(more)
    }
}

/// [`HasData`] for the socket interfaces that create a capability
/// (`tcp-create-socket`, `udp-create-socket`, `ip-name-lookup`): they go
/// to wasmtime-wasi, which refuses them (TCP, UDP and name lookup are off
/// in every job's `WasiCtx`), and the refusal is recorded.
pub(crate) struct RecordedSockets;

impl HasData for RecordedSockets {
    type Data<'a> = RecordedSocketsView<'a>;
}

/// A job's sockets with its denial record.
pub(crate) struct RecordedSocketsView<'a> {
    /// wasmtime-wasi's sockets of the job.
    pub sockets: WasiSocketsCtxView<'a>,
    /// Where refusals go.
    pub denials: &'a mut Denials,
}

impl RecordedSocketsView<'_> {
    fn noted<T>(&mut self, what: &str, result: SocketResult<T>) -> SocketResult<T> {
        if result.is_err() {
            self.denials
                .record(format!("{what} (network access is not allowed)"));
        }
        result
    }
}

// The interfaces below use `network`'s types, so their bindings need
// `network::Host` (the error conversions): wasmtime-wasi's own.
impl network::Host for RecordedSocketsView<'_> {
    fn convert_error_code(&mut self, error: SocketError) -> wasmtime::Result<network::ErrorCode> {
        self.sockets.convert_error_code(error)
    }

    fn network_error_code(
        &mut self,
        err: Resource<wasmtime::Error>,
    ) -> wasmtime::Result<Option<network::ErrorCode>> {
        self.sockets.network_error_code(err)
    }
}

impl network::HostNetwork for RecordedSocketsView<'_> {
    fn drop(&mut self, this: Resource<network::Network>) -> wasmtime::Result<()> {
        network::HostNetwork::drop(&mut self.sockets, this)
    }
}

impl tcp_create_socket::Host for RecordedSocketsView<'_> {
    fn create_tcp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<TcpSocket>> {
        let result = self.sockets.create_tcp_socket(address_family);
        self.noted("wasi:sockets/tcp-create-socket: create-tcp-socket", result)
    }
}

impl udp_create_socket::Host for RecordedSocketsView<'_> {
    async fn create_udp_socket(
        &mut self,
        address_family: IpAddressFamily,
    ) -> SocketResult<Resource<UdpSocket>> {
        let result = self.sockets.create_udp_socket(address_family).await;
        self.noted("wasi:sockets/udp-create-socket: create-udp-socket", result)
    }
}

impl ip_name_lookup::Host for RecordedSocketsView<'_> {
    fn resolve_addresses(
        &mut self,
        network: Resource<ip_name_lookup::Network>,
        name: String,
    ) -> SocketResult<Resource<ip_name_lookup::ResolveAddressStream>> {
        let what = format!(
            "wasi:sockets/ip-name-lookup: resolve-addresses {}",
            super::context::truncate(name.clone(), 128)
        );
        let result = self.sockets.resolve_addresses(network, name);
        self.noted(&what, result)
    }
}

impl ip_name_lookup::HostResolveAddressStream for RecordedSocketsView<'_> {
    fn resolve_next_address(
        &mut self,
        stream: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> SocketResult<Option<ip_name_lookup::IpAddress>> {
        self.sockets.resolve_next_address(stream)
    }

    fn subscribe(
        &mut self,
        stream: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> wasmtime::Result<Resource<wasmtime_wasi::p2::DynPollable>> {
        self.sockets.subscribe(stream)
    }

    fn drop(
        &mut self,
        stream: Resource<ip_name_lookup::ResolveAddressStream>,
    ) -> wasmtime::Result<()> {
        ip_name_lookup::HostResolveAddressStream::drop(&mut self.sockets, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn denials_are_kept_once_each_and_bounded() {
        let mut denials = Denials::default();
        assert_eq!(denials.lines().count(), 0);
        denials.record("a".into());
        denials.record("a".into());
        assert_eq!(denials.lines().collect::<Vec<_>>(), ["a"]);
        for i in 0..20 {
            denials.record(format!("x{i}"));
        }
        let lines: Vec<String> = denials.lines().collect();
        assert_eq!(lines.len(), DENIALS_MAX + 1);
        assert_eq!(lines.last().unwrap(), "... and 13 more");
    }
}
