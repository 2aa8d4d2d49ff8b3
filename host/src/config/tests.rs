//! The configuration's layers: defaults, the file, flags; checks.

use super::*;

#[test]
fn layers_override_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasync.toml");
    std::fs::write(
        &file,
        "listen = \"0.0.0.0:9000\"\npoll_interval = \"2s\"\nupload_limit = \"1MiB\"\n",
    )
    .unwrap();
    let from_file = ConfigLayer::from_file(&file).unwrap();
    let flags = ConfigLayer {
        listen: Some("127.0.0.1:9001".into()),
        ..Default::default()
    };
    let config = ServerConfig::default().apply(from_file).apply(flags);
    assert_eq!(config.listen, "127.0.0.1:9001", "flags beat the file");
    assert_eq!(
        config.poll_interval,
        Duration::from_secs(2),
        "the file beats defaults"
    );
    assert_eq!(config.upload_limit, 1 << 20);
    assert_eq!(config.data_dir, PathBuf::from(DATA_DIR_DEFAULT));
}

#[test]
fn serve_schedules_unless_told_not_to() {
    let config = ServerConfig::default();
    assert!(config.scheduler);
    assert_eq!(config.scheduler_interval, Duration::from_secs(1));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasync.toml");
    std::fs::write(
        &file,
        "no_scheduler = true\nscheduler_interval = \"250ms\"\n",
    )
    .unwrap();
    let config = config.apply(ConfigLayer::from_file(&file).unwrap());
    assert!(!config.scheduler);
    assert_eq!(config.scheduler_interval, Duration::from_millis(250));
    let zero = ServerConfig {
        scheduler_interval: Duration::ZERO,
        ..ServerConfig::default()
    };
    assert!(zero.validate().is_err());
}

#[test]
fn pings_and_death_have_defaults_and_death_must_outlast_a_ping() {
    let config = ServerConfig::default();
    assert_eq!(config.ping_interval, Duration::from_secs(30));
    assert_eq!(config.death_interval, Duration::from_secs(60));
    assert!(config.validate().is_ok());
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasync.toml");
    std::fs::write(
        &file,
        "ping_interval = \"200ms\"\ndeath_interval = \"1s\"\nshutdown_grace = \"2s\"\n",
    )
    .unwrap();
    let short = config.apply(ConfigLayer::from_file(&file).unwrap());
    assert_eq!(short.ping_interval, Duration::from_millis(200));
    assert_eq!(short.death_interval, Duration::from_secs(1));
    assert_eq!(short.shutdown_grace, Duration::from_secs(2));
    assert!(short.validate().is_ok());
    let wrong = ServerConfig {
        death_interval: Duration::from_millis(100),
        ..short
    };
    let error = wrong.validate().unwrap_err();
    assert!(error.contains("death_interval"), "{error}");
}

#[test]
fn retention_by_age_or_count_from_the_file_and_flags() {
    let config = ServerConfig::default();
    assert!(
        !config.retention().is_active(),
        "keeps everything by default"
    );
    assert_eq!(config.retention_interval, Duration::from_secs(60));
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasync.toml");
    std::fs::write(
        &file,
        "retain_for = \"7d\"\nretain_count = 1000\nretention_interval = \"5m\"\n",
    )
    .unwrap();
    let config = config.apply(ConfigLayer::from_file(&file).unwrap());
    let flags = ConfigLayer {
        retain_count: Some(10),
        ..Default::default()
    };
    let config = config.apply(flags);
    let retention = config.retention();
    assert_eq!(retention.max_age, Some(Duration::from_secs(7 * 24 * 3600)));
    assert_eq!(retention.max_count, Some(10), "flags beat the file");
    assert_eq!(retention.interval, Duration::from_secs(300));
    assert!(config.validate().is_ok());
    let zero = ServerConfig {
        retain_for: Some(Duration::ZERO),
        ..ServerConfig::default()
    };
    assert!(zero.validate().is_err());
}

#[test]
fn unknown_keys_in_the_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasync.toml");
    std::fs::write(&file, "listne = \"x\"\n").unwrap();
    let error = ConfigLayer::from_file(&file).unwrap_err().to_string();
    assert!(error.contains("listne"), "{error}");
}

#[test]
fn secrets_are_redacted() {
    let config = ServerConfig {
        token: Some("s3cret".into()),
        database: Some("postgres://me:hunter2@db/wasync".into()),
        ..Default::default()
    };
    let shown = format!("{config:?}");
    assert!(
        !shown.contains("s3cret") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(
        shown.contains("postgres://me:<redacted>@db/wasync"),
        "{shown}"
    );
}

#[test]
fn an_instance_has_a_directory_of_its_own_in_the_data_directory() {
    let config = ServerConfig::default();
    assert_eq!(config.own_dir(), PathBuf::from(DATA_DIR_DEFAULT));
    let flags = ConfigLayer {
        instance: Some("worker-1".into()),
        ..Default::default()
    };
    let config = config.apply(flags);
    assert_eq!(
        config.own_dir(),
        PathBuf::from(DATA_DIR_DEFAULT).join("instances/worker-1")
    );
    assert!(config.validate().is_ok());
    for bad in ["../up", "a/b", ".hidden", "two words"] {
        let config = ServerConfig {
            instance: Some(bad.into()),
            ..ServerConfig::default()
        };
        let error = config.validate().unwrap_err();
        assert!(error.contains(bad), "{error}");
    }
}

#[test]
fn a_worker_serves_metrics_only_when_told_where() {
    assert_eq!(ServerConfig::default().metrics_listen, None);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("wasync.toml");
    std::fs::write(&file, "metrics_listen = \"127.0.0.1:9187\"\n").unwrap();
    let config = ServerConfig::default().apply(ConfigLayer::from_file(&file).unwrap());
    assert_eq!(config.metrics_listen.as_deref(), Some("127.0.0.1:9187"));
    // An empty flag turns the file's address off.
    let off = ConfigLayer {
        metrics_listen: Some(String::new()),
        ..Default::default()
    };
    assert_eq!(config.apply(off).metrics_listen, None);
}
