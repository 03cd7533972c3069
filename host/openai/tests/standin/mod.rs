//! A small stand-in for an OpenAI-compatible server, on 127.0.0.1 only, for
//! the faults a real server will not produce on demand: slow answers, 429s,
//! 500s, malformed JSON, truncated bodies, dropped connections. Also replays
//! recorded answers of a real server.
//!
//! Every connection gets one answer and is closed (`Connection: close`), so
//! each HTTP attempt of the client is one accepted connection. A closure
//! decides each answer from the request and the number of non-probe POSTs
//! before it. The accept loop ends when the stand-in is dropped.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// One received request.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or(serde_json::Value::Null)
    }
    /// The backend's connect-time probe asks for one token.
    pub fn is_probe(&self) -> bool {
        self.json()["max_tokens"] == 1
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// What the stand-in does with one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// A complete response.
    Json {
        status: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
    /// Wait, then answer.
    Slow(Duration, Box<Reply>),
    /// Announce `Content-Length` larger than what is sent, then close.
    Truncated(String),
    /// Close the connection without answering.
    Drop,
}

impl Reply {
    pub fn ok(body: impl Into<String>) -> Reply {
        Reply::status(200, body)
    }
    pub fn status(status: u16, body: impl Into<String>) -> Reply {
        Reply::Json {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

/// A chat completion answering `text`.
pub fn chat_answer(text: &str) -> String {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 4, "total_tokens": 14}
    })
    .to_string()
}

pub const MODELS: &str = r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#;

type Decide = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct StandIn {
    pub url: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    /// The most requests that were being answered at once.
    pub peak_in_flight: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl StandIn {
    /// Serves `GET /v1/models` with `models` and every POST by `decide`
    /// (the probe, a POST asking for one token, is answered by `probe`).
    pub fn start(
        models: Reply,
        probe: Reply,
        decide: impl Fn(&Request, usize) -> Reply + Send + Sync + 'static,
    ) -> StandIn {
        Self::launch(models, Some(probe), Arc::new(decide))
    }

    /// Serves `GET /v1/models` with `models` and every POST, the probe
    /// included, by `decide`.
    pub fn replay(
        models: Reply,
        decide: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> StandIn {
        Self::launch(models, None, Arc::new(move |r: &Request, _| decide(r)))
    }

    fn launch(models: Reply, probe: Option<Reply>, decide: Arc<Decide>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        listener.set_nonblocking(true).expect("nonblocking");
        let url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let peak = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let shared = Shared {
            requests: requests.clone(),
            posts: Arc::new(AtomicUsize::new(0)),
            in_flight: Arc::new(AtomicUsize::new(0)),
            peak: peak.clone(),
            models,
            probe,
            decide,
        };
        let stop_flag = stop.clone();
        let thread = std::thread::spawn(move || {
            // Bounded: at most 500 connections, and it ends with the stand-in.
            let mut served = 0;
            while !stop_flag.load(Ordering::Relaxed) && served < 500 {
                match listener.accept() {
                    Ok((stream, _)) => {
                        served += 1;
                        let shared = shared.clone();
                        std::thread::spawn(move || shared.serve(stream));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        StandIn {
            url,
            requests,
            peak_in_flight: peak,
            stop,
            thread: Some(thread),
        }
    }

    /// The POSTs received that were not the probe.
    pub fn posts(&self) -> Vec<Request> {
        self.requests
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "POST" && !r.is_probe())
            .cloned()
            .collect()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Shared {
    requests: Arc<Mutex<Vec<Request>>>,
    posts: Arc<AtomicUsize>,
    in_flight: Arc<AtomicUsize>,
    peak: Arc<AtomicUsize>,
    models: Reply,
    probe: Option<Reply>,
    decide: Arc<Decide>,
}

impl Shared {
    fn serve(&self, mut stream: TcpStream) {
        let _ = stream.set_nonblocking(false);
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let Some(request) = read_request(&mut stream) else {
            return;
        };
        self.requests.lock().unwrap().push(request.clone());
        let reply = if request.method == "GET" {
            self.models.clone()
        } else if let (true, Some(probe)) = (request.is_probe(), &self.probe) {
            probe.clone()
        } else {
            let n = self.posts.fetch_add(1, Ordering::SeqCst);
            let now = self.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let reply = (self.decide)(&request, n);
            write_reply(&mut stream, &reply);
            self.in_flight.fetch_sub(1, Ordering::SeqCst);
            return;
        };
        write_reply(&mut stream, &reply);
    }
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let n = stream.read(&mut buf).ok()?;
        if n == 0 || data.len() > 1 << 20 {
            return None;
        }
        data.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&data[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let mut first = lines.next()?.split(' ');
    let method = first.next()?.to_string();
    let path = first.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = data[head_end + 4..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf).ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&buf[..n]);
    }
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    })
}

fn write_reply(stream: &mut TcpStream, reply: &Reply) {
    match reply {
        Reply::Json {
            status,
            body,
            headers,
        } => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
        Reply::Slow(wait, then) => {
            std::thread::sleep(*wait);
            write_reply(stream, then);
        }
        Reply::Truncated(body) => {
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len() + 1000
            );
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
        Reply::Drop => {}
    }
    let _ = stream.flush();
    let _ = stream.shutdown(std::net::Shutdown::Both);
}
