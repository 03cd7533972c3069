//! Small blocking clients for the server tests: HTTP/1.1 over a plain TCP
//! stream (so the tests see exactly what goes over the wire) and WebSocket
//! through tungstenite.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio_tungstenite::tungstenite::stream::MaybeTlsStream;
use tokio_tungstenite::tungstenite::{self, Message, WebSocket};

pub type Ws = WebSocket<MaybeTlsStream<TcpStream>>;

/// One HTTP request; the status and the body as JSON (or as a JSON string
/// when it is not JSON).
pub fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
    http_with(addr, method, path, body, &[])
}

pub fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: &[u8],
    headers: &[(&str, &str)],
) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("set a read timeout");
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += "\r\n";
    // The server may answer (413) before reading a large body; a write error
    // after that is expected.
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let mut reader = BufReader::new(stream);
    let mut status_line = String::new();
    reader.read_line(&mut status_line).expect("a status line");
    let status: u16 = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {status_line:?}"));
    let mut length = None;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut bytes = Vec::new();
    match length {
        Some(n) => {
            bytes.resize(n, 0);
            reader.read_exact(&mut bytes).expect("the body");
        }
        None => {
            reader.read_to_end(&mut bytes).expect("the body");
        }
    }
    let text = String::from_utf8_lossy(&bytes).into_owned();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// A WebSocket connection to `/ws`.
pub fn ws(addr: SocketAddr) -> Ws {
    let (socket, _) =
        tungstenite::connect(format!("ws://{addr}/ws")).expect("a WebSocket connection");
    socket
}

/// Sends a message and waits for the one answer.
pub fn ws_call(socket: &mut Ws, message: &Value) -> Value {
    socket
        .send(Message::text(message.to_string()))
        .expect("send a message");
    ws_read(socket)
}

/// The next JSON message.
pub fn ws_read(socket: &mut Ws) -> Value {
    loop {
        match socket.read().expect("an answer") {
            Message::Text(text) => return serde_json::from_str(&text).expect("JSON"),
            Message::Ping(_) | Message::Pong(_) => continue,
            other => panic!("unexpected message {other:?}"),
        }
    }
}

/// A metric's value from `/metrics` (its first sample line).
pub fn metric(addr: SocketAddr, line_prefix: &str) -> f64 {
    let (status, body) = http(addr, "GET", "/metrics", b"");
    assert_eq!(status, 200);
    let text = body.as_str().expect("metrics are text").to_string();
    text.lines()
        .find_map(|line| line.strip_prefix(line_prefix))
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no metric {line_prefix} in:\n{text}"))
}

/// Waits (at most `limit`) until `condition` holds; whether it did.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    condition()
}
