//! The data of one job's wasmtime store, and the linker that gives a job
//! exactly the imports of the `job` world.

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::cli::WasiCliView as _;
use wasmtime_wasi::clocks::WasiClocksView as _;
use wasmtime_wasi::p2::bindings::{cli, clocks, random};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::context::{self, ContextState, ContextView};
use super::limits::{Deadline, DeadlineExceeded, MemoryLimiter};
use super::output::TailPipe;

/// What one host call may copy beyond the job's memory limit (a memory is
/// never exactly full).
const HOSTCALL_COPY_MARGIN: u64 = 1 << 20;

/// Everything one job's store holds. Nothing in it is shared with another
/// job.
pub(crate) struct StoreState {
    wasi: WasiCtx,
    table: ResourceTable,
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

impl wasmtime_wasi_io::IoView for StoreState {
    fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

/// A linker with the `job` world's imports and nothing else: the
/// `wasync:job` interfaces and, from WASI 0.2, `cli` (environment, exit,
/// stdio, terminal), `clocks`, `random` and `io`. No filesystem, sockets or
/// HTTP are linked, so a job cannot reach them even if validation were
/// bypassed.
pub(crate) fn job_linker(engine: &Engine) -> wasmtime::Result<Linker<StoreState>> {
    type T = StoreState;
    use wasmtime_wasi::cli::WasiCli;
    use wasmtime_wasi::clocks::WasiClocks;
    use wasmtime_wasi::random::WasiRandom;

    let mut linker = Linker::<T>::new(engine);
    let l = &mut linker;
    wasmtime_wasi_io::add_to_linker_async(l)?;
    clocks::wall_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    clocks::monotonic_clock::add_to_linker::<T, WasiClocks>(l, T::clocks)?;
    random::random::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    random::insecure_seed::add_to_linker::<T, WasiRandom>(l, |t| t.wasi.random())?;
    cli::exit::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::environment::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_input::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_output::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdin::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stdout::add_to_linker::<T, WasiCli>(l, T::cli)?;
    cli::terminal_stderr::add_to_linker::<T, WasiCli>(l, T::cli)?;
    context::add_to_linker(l, |t| ContextView::new(&mut t.context))?;
    Ok(linker)
}

/// The settings of one job's store.
pub(crate) struct StoreSetup {
    pub context: ContextState,
    pub stdout: TailPipe,
    pub stderr: TailPipe,
    pub memory_bytes: u64,
    pub fuel: Option<u64>,
    pub deadline: Option<Deadline>,
}

/// A fresh store for one job.
///
/// Denied by default: WASI gets no preopened directories, no environment
/// variables, no arguments, no sockets or network, an empty stdin;
/// stdout and stderr go into bounded [`TailPipe`]s. Fuel is the budget
/// (or unlimited), memory is capped by a [`MemoryLimiter`], and every epoch
/// tick the guest yields to the async executor and its deadline is checked.
pub(crate) fn new_store(engine: &Engine, setup: StoreSetup) -> wasmtime::Result<Store<StoreState>> {
    let wasi = WasiCtx::builder()
        .stdout(setup.stdout)
        .stderr(setup.stderr)
        .allow_blocking_current_thread(false)
        .build();
    let state = StoreState {
        wasi,
        table: ResourceTable::new(),
        context: setup.context,
        limiter: MemoryLimiter::new(setup.memory_bytes),
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
