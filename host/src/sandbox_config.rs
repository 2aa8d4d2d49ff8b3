//! The `[sandbox]` section of the server's configuration (and its flags):
//! the pooling allocator's per-component limits and the HTTP origins jobs
//! may reach. See docs/sandbox.md.

use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Deserializer};

use crate::runtime::{ComponentLimits, HttpAllow, HttpConfig, RuntimeConfig};

/// One layer of sandbox settings; a set field overrides the layers below.
/// In a config file: the `[sandbox]` table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxLayer {
    /// Core wasm instances one component may create (default 64).
    #[arg(long, env = "WASYNC_MAX_CORE_INSTANCES_PER_COMPONENT")]
    pub max_core_instances_per_component: Option<u32>,
    /// Linear memories one component may have (default 4).
    #[arg(long, env = "WASYNC_MAX_MEMORIES_PER_COMPONENT")]
    pub max_memories_per_component: Option<u32>,
    /// Tables one component may have (default 16).
    #[arg(long, env = "WASYNC_MAX_TABLES_PER_COMPONENT")]
    pub max_tables_per_component: Option<u32>,
    /// Elements one table may have (default 100000).
    #[arg(long, env = "WASYNC_MAX_TABLE_ELEMENTS")]
    pub max_table_elements: Option<usize>,
    /// Bytes of instance state a component may need, per core module and
    /// in all (about 32 per function; default 4MiB).
    #[arg(long, env = "WASYNC_MAX_INSTANCE_BYTES", value_parser = crate::config::parse_size)]
    #[serde(default, deserialize_with = "de_size")]
    pub max_instance_bytes: Option<u64>,
    /// An origin jobs may send HTTP requests to: `ORIGIN` (every queue) or
    /// `QUEUE=ORIGIN`, e.g. `fetch=https://api.example.com`. Repeatable.
    /// Default: none, every request is denied.
    #[arg(long = "allow-http", env = "WASYNC_ALLOW_HTTP", value_delimiter = ',')]
    #[serde(default, deserialize_with = "de_allow")]
    pub allow_http: Option<Vec<HttpAllow>>,
    /// The cap of each timeout of an outgoing HTTP request: connect, first
    /// byte, between bytes (default 30s).
    #[arg(long, env = "WASYNC_HTTP_TIMEOUT", value_parser = crate::api::input::parse_duration_text)]
    #[serde(default, deserialize_with = "de_duration")]
    pub http_timeout: Option<Duration>,
    /// The largest HTTP response body a job may read (default 16MiB).
    #[arg(long, env = "WASYNC_HTTP_MAX_RESPONSE", value_parser = crate::config::parse_size)]
    #[serde(default, deserialize_with = "de_size")]
    pub http_max_response: Option<u64>,
}

impl SandboxLayer {
    /// `below` with every setting this layer sets overridden.
    pub fn over(self, below: SandboxLayer) -> SandboxLayer {
        SandboxLayer {
            max_core_instances_per_component: self
                .max_core_instances_per_component
                .or(below.max_core_instances_per_component),
            max_memories_per_component: self
                .max_memories_per_component
                .or(below.max_memories_per_component),
            max_tables_per_component: self
                .max_tables_per_component
                .or(below.max_tables_per_component),
            max_table_elements: self.max_table_elements.or(below.max_table_elements),
            max_instance_bytes: self.max_instance_bytes.or(below.max_instance_bytes),
            allow_http: self.allow_http.or(below.allow_http),
            http_timeout: self.http_timeout.or(below.http_timeout),
            http_max_response: self.http_max_response.or(below.http_max_response),
        }
    }

    /// The runtime settings `config` with this layer's settings applied.
    pub fn apply_to(&self, mut config: RuntimeConfig) -> RuntimeConfig {
        let limits: &mut ComponentLimits = &mut config.component_limits;
        if let Some(v) = self.max_core_instances_per_component {
            limits.core_instances = v;
        }
        if let Some(v) = self.max_memories_per_component {
            limits.memories = v;
        }
        if let Some(v) = self.max_tables_per_component {
            limits.tables = v;
        }
        if let Some(v) = self.max_table_elements {
            limits.table_elements = v;
        }
        if let Some(v) = self.max_instance_bytes {
            limits.instance_bytes = usize::try_from(v).unwrap_or(usize::MAX);
        }
        let http: &mut HttpConfig = &mut config.http;
        if let Some(allow) = &self.allow_http {
            http.allow = allow.clone();
        }
        if let Some(v) = self.http_timeout {
            http.timeout = v;
        }
        if let Some(v) = self.http_max_response {
            http.max_response_bytes = v;
        }
        config
    }
}

fn de_allow<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<HttpAllow>>, D::Error> {
    let texts = Option::<Vec<String>>::deserialize(d)?;
    texts
        .map(|texts| {
            texts
                .iter()
                .map(|t| t.parse().map_err(serde::de::Error::custom))
                .collect()
        })
        .transpose()
}

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    value
        .map(|v| crate::api::input::parse_duration(&v).map_err(serde::de::Error::custom))
        .transpose()
}

fn de_size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<serde_json::Value>::deserialize(d)? {
        None => Ok(None),
        Some(serde_json::Value::Number(n)) => n
            .as_u64()
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("a size must be a whole number of bytes")),
        Some(serde_json::Value::String(s)) => crate::config::parse_size(&s)
            .map(Some)
            .map_err(serde::de::Error::custom),
        Some(other) => Err(serde::de::Error::custom(format!("`{other}` is not a size"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_section_sets_limits_and_origins() {
        let layer: SandboxLayer = toml::from_str(
            "max_core_instances_per_component = 80\n\
             allow_http = [\"fetch=http://127.0.0.1:9000\", \"https://api.example.com\"]\n\
             http_timeout = \"5s\"\nhttp_max_response = \"1MiB\"\n",
        )
        .unwrap();
        let flags = SandboxLayer {
            max_memories_per_component: Some(6),
            ..SandboxLayer::default()
        };
        let config = flags.over(layer).apply_to(RuntimeConfig::default());
        assert_eq!(config.component_limits.core_instances, 80);
        assert_eq!(config.component_limits.memories, 6);
        assert_eq!(config.http.allow.len(), 2);
        assert_eq!(config.http.origins_for("fetch").len(), 2);
        assert_eq!(config.http.timeout, Duration::from_secs(5));
        assert_eq!(config.http.max_response_bytes, 1 << 20);

        let bad = toml::from_str::<SandboxLayer>("allow_http = [\"ftp://x\"]\n").unwrap_err();
        assert!(bad.to_string().contains("ftp://x"), "{bad}");
    }
}
