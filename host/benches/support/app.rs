//! The service and a dispatcher in this process, for the benches that
//! time the whole queue without HTTP.

use std::path::Path;
use std::sync::Arc;

use wasync::app::App;
use wasync::clock::SystemClock;
use wasync::dispatch::{Dispatcher, DispatcherConfig};
use wasync::model::{AgentSpec, DEFAULT_QUEUE, DispatcherId, MAIN_AGENT_NAME};
use wasync::runtime::{Runtime, RuntimeConfig};
use wasync::service::{Events, Service, ServiceConfig};
use wasync::store::Store;

/// The service over a store, with a dispatcher running its jobs.
pub struct InProcess {
    /// The queue's operations.
    pub service: Service,
    /// This process's wake-ups (completions).
    pub events: Arc<Events>,
    dispatcher: Option<Dispatcher>,
}

impl InProcess {
    /// The service over `store` (compiled components cached under `dir`)
    /// with the example component `module` uploaded under its name, and a
    /// dispatcher whose main agent (default queue) has `agent_size` slots.
    pub async fn start(
        store: Arc<dyn Store>,
        dir: &Path,
        module: &str,
        agent_size: u32,
    ) -> InProcess {
        let runtime = Runtime::new(RuntimeConfig {
            cache_dir: Some(dir.join("cache")),
            ..RuntimeConfig::default()
        })
        .expect("runtime");
        let app = App::new(
            store,
            runtime,
            Arc::new(SystemClock),
            ServiceConfig::default(),
        );
        app.service
            .module_upload(
                wasync_example_components::bytes(module),
                Some(module.into()),
            )
            .await
            .unwrap_or_else(|e| panic!("upload {module}: {e:?}"));
        let mut config = DispatcherConfig::new(DispatcherId::new());
        let mut main = AgentSpec::new(DEFAULT_QUEUE, MAIN_AGENT_NAME);
        main.size = agent_size;
        config.main_agent = Some(main);
        let dispatcher = app.start_dispatcher(config).await.expect("dispatcher");
        InProcess {
            service: app.service,
            events: app.events,
            dispatcher: Some(dispatcher),
        }
    }

    /// Stops the dispatcher.
    pub async fn stop(mut self) {
        if let Some(dispatcher) = self.dispatcher.take() {
            dispatcher.stop().await;
        }
    }
}
