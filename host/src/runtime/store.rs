//! The data of one job's wasmtime store, and the linker that gives a job
//! the imports of the `job` world: `wasync:job` and all of WASI 0.2, its
//! outward capabilities closed ([`super::sandbox`]).

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::p2::bindings::sockets;
use wasmtime_wasi::sockets::WasiSocketsCtxView;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use super::ComponentLimits;
use super::context::{self, ContextState, ContextView};
use super::http::JobHttp;
use super::limits::{Deadline, DeadlineExceeded, MemoryLimiter};
use super::output::TailPipe;
use super::sandbox::{Denials, RecordedSockets, RecordedSocketsView};

/// What one host call may copy beyond the job's memory limit (a memory is
/// never exactly full).
const HOSTCALL_COPY_MARGIN: u64 = 1 << 20;

/// Everything one job's store holds. Nothing in it is shared with another
/// job.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
    http_ctx: WasiHttpCtx,
    pub(crate) http: JobHttp,
    /// The socket capabilities the job was refused.
    pub(crate) denials: Denials,
    pub(crate) context: ContextState,
    pub(crate) limiter: MemoryLimiter,
    deadline: Option<Deadline>,
    /// Set by the epoch callback when it stops the guest at the deadline.
    pub(crate) timed_out: bool,
}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for StoreState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            hooks: &mut self.http,
            table: &mut self.table,
            ctx: &mut self.http_ctx,
        }
    }
}

impl StoreState {
    fn recorded_sockets(&mut self) -> RecordedSocketsView<'_> {
        RecordedSocketsView {
            sockets: WasiSocketsCtxView {
                ctx: self.wasi.sockets(),
                table: &mut self.table,
            },
            denials: &mut self.denials,
        }
    }

    /// Every capability the job was refused, sockets and HTTP.
    pub(crate) fn denied(&self) -> Vec<String> {
        self.denials
            .lines()
            .chain(self.http.denials().lines())
            .collect()
    }
}

/// A linker with the `job` world's imports: the `wasync:job` interfaces
/// and all of WASI 0.2 (`cli`, `clocks`, `random`, `io`, `filesystem`,
/// `sockets`, `http`), whatever 0.2.x minor version a component was built
/// against (wasmtime matches imports to these by semver). The socket
/// functions that create a capability are replaced by ones that record the
/// refusal ([`RecordedSockets`]).
pub(crate) fn job_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    type T = StoreState;
    let mut linker = Linker::<T>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
    linker.allow_shadowing(true);
    let l = &mut linker;
    sockets::tcp_create_socket::add_to_linker::<T, RecordedSockets>(l, T::recorded_sockets)?;
    sockets::udp_create_socket::add_to_linker::<T, RecordedSockets>(l, T::recorded_sockets)?;
    sockets::ip_name_lookup::add_to_linker::<T, RecordedSockets>(l, T::recorded_sockets)?;
    linker.allow_shadowing(false);
    context::add_to_linker(&mut linker, |t| ContextView::new(&mut t.context))?;
    Ok(linker)
}

/// The settings of one job's store.
pub(crate) struct StoreSetup {
    pub context: ContextState,
    pub stdout: TailPipe,
    pub stderr: TailPipe,
    pub memory_bytes: u64,
    pub component_limits: ComponentLimits,
    pub http: JobHttp,
    pub fuel: Option<u64>,
    pub deadline: Option<Deadline>,
}

/// A fresh store for one job.
///
/// Denied by default: WASI gets no preopened directories, no environment
/// variables, no arguments, no TCP, UDP or name lookup (the defaults of
/// [`WasiCtx::builder`], kept on purpose), HTTP only to the origins
/// `setup.http` allows, an empty stdin;
/// stdout and stderr go into bounded [`TailPipe`]s. Fuel is the budget
/// (or unlimited), memory is capped by a [`MemoryLimiter`], and every epoch
/// tick the guest yields to the async executor and its deadline is checked.
pub(crate) fn new_store(engine: &Engine, setup: StoreSetup) -> wasmtime::Result<Store<StoreState>> {
    let wasi = WasiCtx::builder()
        .stdout(setup.stdout)
        .stderr(setup.stderr)
        .allow_blocking_current_thread(false)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build();
    let state = StoreState {
        wasi,
        table: ResourceTable::new(),
        http_ctx: WasiHttpCtx::new(),
        http: setup.http,
        denials: Denials::default(),
        context: setup.context,
        limiter: MemoryLimiter::new(setup.memory_bytes, setup.component_limits),
        deadline: setup.deadline,
        timed_out: false,
    };
    let mut store = Store::new(engine, state);
    store.limiter(|state| &mut state.limiter);
    store.set_fuel(setup.fuel.unwrap_or(u64::MAX))?;
    // wasmtime caps what one call copies out of the guest (128 MiB by
    // default) and fails the call with a generic error past it. A copy
    // can never be larger than the guest's memory, so allow that much:
    // our own caps (the result's, the imports' arguments') then see every
    // size and fail the run with a kind that names it.
    store.set_hostcall_fuel(
        usize::try_from(setup.memory_bytes.saturating_add(HOSTCALL_COPY_MARGIN))
            .unwrap_or(usize::MAX),
    );
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(on_epoch);
    Ok(store)
}

/// Every tick: stop the guest past its deadline, otherwise let other tasks
/// run. `tokio::task::yield_now` (rather than a plain re-wake) also lets the
/// runtime drive its timers and I/O before polling the guest again.
fn on_epoch(mut store: StoreContextMut<'_, StoreState>) -> wasmtime::Result<UpdateDeadline> {
    let state = store.data_mut();
    if state
        .deadline
        .is_some_and(|deadline| std::time::Instant::now() >= deadline.at)
    {
        state.timed_out = true;
        return Err(DeadlineExceeded.into());
    }
    Ok(UpdateDeadline::YieldCustom(
        1,
        Box::pin(tokio::task::yield_now()),
    ))
}
