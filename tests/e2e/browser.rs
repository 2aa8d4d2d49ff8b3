//! A real browser for the dashboard's tests: Debian's headless Chromium
//! driven over WebDriver (`chromedriver`, started on a free port) with
//! fantoccini. `cargo xtask test` installs both packages and names the
//! driver in `WASYNC_CHROMEDRIVER`; without it, the tests look for
//! `chromedriver` on `PATH` and are skipped, saying so, when there is none.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use crate::support::DEADLINE;

/// Where xtask says the driver is.
pub const DRIVER_ENV: &str = "WASYNC_CHROMEDRIVER";

/// A laptop's window.
pub const LAPTOP: (u32, u32) = (1366, 900);
/// A phone's.
pub const PHONE: (u32, u32) = (390, 844);

/// The driver: `WASYNC_CHROMEDRIVER`, else `chromedriver` on `PATH`.
fn driver_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(DRIVER_ENV).filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join("chromedriver"))
        .find(|path| path.is_file())
}

/// Where the screenshots go: `target/dashboard-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(&tmp).join("dashboard-screenshots")
}

/// A headless Chromium session and the driver it runs under (both
/// stopped when dropped).
pub struct Browser {
    /// The WebDriver session.
    pub client: Client,
    driver: Child,
}

impl Browser {
    /// Starts the driver and a browser; `None` (the test is skipped, said
    /// on stderr) when no driver is installed and xtask did not name one.
    pub async fn start() -> Option<Browser> {
        let Some(path) = driver_path() else {
            eprintln!(
                "skipped: no chromedriver ({DRIVER_ENV} unset and none on PATH); \
                 `cargo xtask test` installs Debian's chromium and chromium-driver"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", path.display()));
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({"args": [
                "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--hide-scrollbars", "--force-device-scale-factor=1",
                format!("--window-size={},{}", LAPTOP.0, LAPTOP.1),
            ]}),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) => {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "no browser session from {}: {e}",
                        path.display()
                    );
                    // The driver is still starting: ask again shortly.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        };
        let browser = Browser { client, driver };
        browser.resize(LAPTOP).await;
        Some(browser)
    }

    /// Sets the window's size.
    pub async fn resize(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("set the window size");
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("open the page");
    }

    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
    }

    /// Waits until the expression `condition` (JavaScript) is truthy in
    /// the page, and returns its value; fails after the deadline with
    /// `what` and the page's text.
    pub async fn wait_for(&self, what: &str, condition: &str) -> Value {
        let script = format!("return ({condition}) || null;");
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let value = self.client.execute(&script, vec![]).await;
            if let Ok(value) = &value
                && !value.is_null()
                && value != &Value::Bool(false)
            {
                return value.clone();
            }
            if tokio::time::Instant::now() >= deadline {
                let text = self.js("return document.body.innerText", vec![]).await;
                panic!("timed out waiting for {what} ({condition}): {value:?}\npage:\n{text}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Clicks the element `css` selects. The live pages re-render their
    /// lists as jobs change: an element found just before a re-render is
    /// gone ("stale") when clicked, so the click is tried again on the
    /// element that replaced it, as a user's second click would be.
    pub async fn click(&self, css: &str) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            self.wait_for(
                &format!("{css} to show"),
                &format!("document.querySelector({css:?})"),
            )
            .await;
            let clicked = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.click().await,
                Err(e) => Err(e),
            };
            match clicked {
                Ok(()) => return,
                Err(e)
                    if e.to_string().contains("stale element")
                        && tokio::time::Instant::now() < deadline =>
                {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("click {css}: {e}"),
            }
        }
    }

    /// Types `text` into the field `css` selects (after clearing it).
    pub async fn type_into(&self, css: &str, text: &str) {
        let field = self
            .client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("find {css}: {e}"));
        field.clear().await.expect("clear the field");
        field.send_keys(text).await.expect("type");
    }

    /// Confirms the open confirmation dialog.
    pub async fn confirm(&self) {
        self.wait_for(
            "the confirmation dialog",
            "document.getElementById('confirm').open",
        )
        .await;
        self.click("#confirm-yes").await;
    }

    /// Saves a screenshot of the window as `target/dashboard-screenshots/NAME.png`.
    pub async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("save the screenshot");
    }
}

impl Browser {
    /// Ends the session (the browser quits) and stops the driver.
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // The session ends with its driver; the driver is ours to stop.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
