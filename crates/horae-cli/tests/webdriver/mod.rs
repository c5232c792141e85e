//! A minimal W3C WebDriver client over plain HTTP/1.1, enough to drive headless Chromium
//! through `chromedriver` in end-to-end tests: open a page, find elements, click, read text
//! and attributes, take a screenshot. Standard library only.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The W3C key under which an element reference is returned.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// Where Debian's packages `chromium` and `chromium-driver` put the browser and its driver.
pub(crate) const CHROMIUM: &str = "/usr/bin/chromium";
/// See [`CHROMIUM`].
pub(crate) const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Whether the browser and its driver are installed.
pub(crate) fn browser_installed() -> bool {
    Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists()
}

/// A free TCP port on 127.0.0.1.
pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One HTTP/1.1 request with an optional JSON body; returns the status and the JSON body.
pub(crate) fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
    let (status, text) = http_text(port, method, path, body, &[]);
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Like [`http`] with extra headers, returning the body as text.
pub(crate) fn http_text(
    port: u16,
    method: &str,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("read timeout");
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    stream.write_all(request.as_bytes()).expect("send");
    let (head, body) = read_response(&mut stream);
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    (status, body)
}

/// Reads one response: its head, and its body by `Content-Length`, chunked encoding, or
/// up to the end of the stream (servers may keep the connection open despite
/// `Connection: close`, so reading to the end alone could hang).
fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    let complete = |raw: &[u8]| -> Option<usize> {
        let text = String::from_utf8_lossy(raw);
        let end = text.find("\r\n\r\n")? + 4;
        let head = text[..end].to_ascii_lowercase();
        if let Some(length) = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse::<usize>().ok())
        {
            return (raw.len() >= end + length).then_some(end + length);
        }
        if head.contains("transfer-encoding: chunked") {
            return text[end..]
                .contains("\r\n0\r\n\r\n")
                .then_some(raw.len())
                .or_else(|| text[end..].starts_with("0\r\n\r\n").then_some(raw.len()));
        }
        None
    };
    let total = loop {
        if let Some(total) = complete(&raw) {
            break total;
        }
        match stream.read(&mut buffer) {
            Ok(0) => break raw.len(),
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e) => panic!("receive: {e}"),
        }
    };
    let text = String::from_utf8_lossy(&raw[..total]).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (head.to_owned(), body)
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, tail)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || tail.len() < size {
            break;
        }
        out.push_str(&tail[..size]);
        rest = tail[size..].trim_start_matches("\r\n");
    }
    out
}

/// Polls `condition` every 100 ms until it holds or `limit` passes.
pub(crate) fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A running chromedriver and one headless Chromium session; both end on drop.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium session (flags for a closed network).
    pub(crate) fn start() -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let ready = wait_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", port)).is_ok()
                && http(port, "GET", "/status", None).1["value"]["ready"] == json!(true)
        });
        assert!(ready, "chromedriver did not become ready");
        let profile = TempDir::new("horae-chromium");
        let args = json!([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1280,1000",
            format!("--user-data-dir={}", profile.path().display()),
        ]);
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let (status, body) = http(port, "POST", "/session", Some(&capabilities));
        assert_eq!(status, 200, "new session: {body}");
        let session = body["value"]["sessionId"]
            .as_str()
            .expect("a session id")
            .to_owned();
        Browser {
            driver,
            port,
            session,
            _profile: profile,
        }
    }

    fn command(&self, method: &str, path: &str, body: Option<&Value>) -> Value {
        let path = format!("/session/{}{path}", self.session);
        let (status, value) = http(self.port, method, &path, body);
        assert_eq!(status, 200, "{method} {path}: {value}");
        value["value"].clone()
    }

    /// Opens `url` and waits for it to load.
    pub(crate) fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({"url": url})));
    }

    /// The current page's URL.
    pub(crate) fn url(&self) -> String {
        self.command("GET", "/url", None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The first element matching the CSS `selector`, if any.
    pub(crate) fn find(&self, selector: &str) -> Option<String> {
        let path = format!("/session/{}/element", self.session);
        let body = json!({"using": "css selector", "value": selector});
        let (status, value) = http(self.port, "POST", &path, Some(&body));
        (status == 200)
            .then(|| value["value"][ELEMENT_KEY].as_str().map(str::to_owned))
            .flatten()
    }

    /// Waits up to `limit` for an element matching `selector`.
    pub(crate) fn wait_for(&self, selector: &str, limit: Duration) -> String {
        let mut found = None;
        wait_until(limit, || {
            found = self.find(selector);
            found.is_some()
        });
        found.unwrap_or_else(|| panic!("no element matches {selector:?} after {limit:?}"))
    }

    /// Clicks an element.
    pub(crate) fn click(&self, element: &str) {
        self.command(
            "POST",
            &format!("/element/{element}/click"),
            Some(&json!({})),
        );
    }

    /// Types `text` into an input element (after clearing it).
    pub(crate) fn type_into(&self, element: &str, text: &str) {
        self.command(
            "POST",
            &format!("/element/{element}/clear"),
            Some(&json!({})),
        );
        self.command(
            "POST",
            &format!("/element/{element}/value"),
            Some(&json!({"text": text})),
        );
    }

    /// An element's rendered text.
    pub(crate) fn text(&self, element: &str) -> String {
        self.command("GET", &format!("/element/{element}/text"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Saves a PNG screenshot of the window to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let encoded = self.command("GET", "/screenshot", None);
        let png = base64_decode(encoded.as_str().expect("base64 screenshot"));
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).expect("screenshot directory");
        }
        std::fs::write(path, png).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let path = format!("/session/{}", self.session);
        if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            let _ = http(self.port, "DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64 (with padding) to bytes.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut buffer = 0u32;
    let mut bits = 0;
    for sextet in text.bytes().filter_map(value) {
        buffer = (buffer << 6) | u32::from(sextet);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// A directory removed on drop.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    /// A new empty directory under the system's temp dir.
    pub(crate) fn new(prefix: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let path = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_decodes_padded_text() {
        assert_eq!(base64_decode("aG9yYWU="), b"horae");
        assert_eq!(base64_decode("aG9yYWUh"), b"horae!");
    }
}
