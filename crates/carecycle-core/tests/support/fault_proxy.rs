//! A fault-injecting HTTP proxy on loopback, in front of the reference back
//! end: it passes requests through, or fails them the ways networks and
//! servers fail — refused, server errors, answers slower than the client
//! waits, connections reset after the server acted, bodies cut short, a 401.
#![allow(
    dead_code,
    deprecated,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    Pass,
    /// Closes every connection at once (the network is down).
    Offline,
    /// Answers this status without asking the server.
    Status(u16),
    /// Waits this long before passing the answer on.
    Slow(Duration),
    /// Lets the server act, then resets the connection: the answer is lost.
    LoseAnswer,
    /// Passes the answer with its body cut in half.
    Truncate,
}

/// A fault for the next `times` requests whose method and path start match, then `Pass`.
#[derive(Debug, Clone)]
struct Rule {
    fault: Fault,
    method: Option<String>,
    times: Option<u32>,
}

#[derive(Clone)]
pub struct FaultProxy {
    pub addr: SocketAddr,
    upstream: SocketAddr,
    rule: Arc<Mutex<Rule>>,
    pub seen: Arc<Mutex<Vec<String>>>,
    /// Pose as a plain FHIR server without the optional features: no
    /// `_lastUpdated` filter, no paging links (everything in one page), no
    /// ETags or If-Match, no conditional create, UUIDs as version ids.
    minimal: Arc<Mutex<bool>>,
}

impl FaultProxy {
    pub async fn start(upstream: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = FaultProxy {
            addr: listener.local_addr().unwrap(),
            upstream,
            rule: Arc::new(Mutex::new(Rule {
                fault: Fault::Pass,
                method: None,
                times: None,
            })),
            seen: Arc::default(),
            minimal: Arc::default(),
        };
        let p = proxy.clone();
        tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                let p = p.clone();
                tokio::spawn(async move {
                    let _ = p.serve(conn).await;
                });
            }
        });
        proxy
    }

    /// The FHIR base as seen through the proxy.
    pub fn base(&self) -> String {
        format!("http://{}/fhir", self.addr)
    }

    pub fn set_minimal(&self, on: bool) {
        *self.minimal.lock().unwrap() = on;
    }

    /// Every request from now on.
    pub fn set(&self, fault: Fault) {
        *self.rule.lock().unwrap() = Rule {
            fault,
            method: None,
            times: None,
        };
    }

    /// The next `times` requests with this method (e.g. "POST"), then pass.
    pub fn next(&self, method: &str, fault: Fault, times: u32) {
        *self.rule.lock().unwrap() = Rule {
            fault,
            method: Some(method.to_owned()),
            times: Some(times),
        };
    }

    fn fault_for(&self, method: &str) -> Fault {
        let mut rule = self.rule.lock().unwrap();
        if rule.method.as_deref().is_some_and(|m| m != method) {
            return Fault::Pass;
        }
        if let Some(t) = rule.times.as_mut() {
            if *t == 0 {
                return Fault::Pass;
            }
            *t -= 1;
        }
        rule.fault.clone()
    }

    async fn serve(&self, mut conn: TcpStream) -> std::io::Result<()> {
        let Some(request) = read_message(&mut conn, true).await? else {
            return Ok(());
        };
        let head = String::from_utf8_lossy(
            &request[..request
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .unwrap_or(0)],
        )
        .into_owned();
        let method = head
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        self.seen
            .lock()
            .unwrap()
            .push(head.lines().next().unwrap_or_default().to_owned());
        let fault = self.fault_for(&method);
        match &fault {
            Fault::Offline => return Ok(()),
            Fault::Status(code) => {
                let body = format!(
                    "{{\"resourceType\":\"OperationOutcome\",\"issue\":[{{\"severity\":\"error\",\"code\":\"exception\",\"diagnostics\":\"injected {code}\"}}]}}"
                );
                let reply = format!(
                    "HTTP/1.1 {code} Injected\r\ncontent-type: application/fhir+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                conn.write_all(reply.as_bytes()).await?;
                return Ok(());
            }
            _ => {}
        }
        let minimal = *self.minimal.lock().unwrap();
        let request = if minimal {
            strip_optional(&request)
        } else {
            request
        };
        let mut upstream = TcpStream::connect(self.upstream).await?;
        upstream.write_all(&with_connection_close(&request)).await?;
        let mut response = Vec::new();
        upstream.read_to_end(&mut response).await?;
        let mut response = rewrite(
            &response,
            &self.upstream.to_string(),
            &self.addr.to_string(),
        );
        if minimal {
            response = plain_answer(&response);
        }
        match fault {
            Fault::LoseAnswer => {
                // The server did the work; the client never hears of it.
                let _ = conn.set_linger(Some(Duration::ZERO));
                return Ok(());
            }
            Fault::Slow(d) => tokio::time::sleep(d).await,
            Fault::Truncate => {
                let split = response
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .map(|p| p + 4)
                    .unwrap_or(0);
                let keep = split + (response.len() - split) / 2;
                conn.write_all(&response[..keep]).await?;
                let _ = conn.set_linger(Some(Duration::ZERO));
                return Ok(());
            }
            _ => {}
        }
        conn.write_all(&response).await?;
        conn.shutdown().await
    }
}

/// Reads one HTTP message (head and a content-length body).
async fn read_message(conn: &mut TcpStream, _request: bool) -> std::io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = conn.read(&mut chunk).await?;
        if n == 0 {
            return Ok(None);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + length {
                let n = conn.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Ok(Some(buf));
        }
    }
}

fn with_connection_close(request: &[u8]) -> Vec<u8> {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..end]);
    let mut lines: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .map(str::to_owned)
        .collect();
    lines.push("connection: close".into());
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(&request[end..]);
    out
}

/// The server names itself in links; through the proxy they must name the proxy.
fn rewrite(response: &[u8], from: &str, to: &str) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let body = String::from_utf8_lossy(&response[end + 4..]).replace(from, to);
    let head: Vec<String> = head
        .lines()
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("content-length: {}", body.len())
            } else {
                l.replace(from, to)
            }
        })
        .collect();
    let mut out = head.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}

/// The request as a server without the optional features would act on it.
fn strip_optional(request: &[u8]) -> Vec<u8> {
    let end = request
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(request.len());
    let head = String::from_utf8_lossy(&request[..end]).into_owned();
    let mut lines = head.lines();
    let first = lines.next().unwrap_or_default();
    let mut parts: Vec<String> = first.split(' ').map(str::to_owned).collect();
    if let Some(target) = parts.get_mut(1)
        && let Some((path, query)) = target.clone().split_once('?')
    {
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| {
                !p.starts_with("_lastUpdated=")
                    && !p.starts_with("_count=")
                    && !p.starts_with("_cursor=")
            })
            .collect();
        let mut q = kept.join("&");
        if !q.is_empty() {
            q.push('&');
        }
        q.push_str("_count=500");
        *target = format!("{path}?{q}");
    }
    let mut out = vec![parts.join(" ")];
    out.extend(
        lines
            .filter(|l| {
                let l = l.to_ascii_lowercase();
                !l.starts_with("if-none-exist:") && !l.starts_with("if-match:")
            })
            .map(str::to_owned),
    );
    let mut bytes = out.join("\r\n").into_bytes();
    bytes.extend_from_slice(&request[end..]);
    bytes
}

fn uuid_versions(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            if let Some(serde_json::Value::Object(meta)) = m.get_mut("meta")
                && let Some(serde_json::Value::String(version)) = meta.get_mut("versionId")
            {
                *version = format!("0f8fad5b-d9cb-469f-a165-70867728950{}", version.len() % 10);
            }
            if let Some(serde_json::Value::Array(links)) = m.get_mut("link") {
                links.retain(|l| l["relation"] != "next");
            }
            for x in m.values_mut() {
                uuid_versions(x);
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(uuid_versions),
        _ => {}
    }
}

/// The answer as such a server would give it.
fn plain_answer(response: &[u8]) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response.to_vec();
    };
    let head = String::from_utf8_lossy(&response[..end]).into_owned();
    let mut body = response[end + 4..].to_vec();
    if let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&body) {
        uuid_versions(&mut v);
        body = serde_json::to_vec(&v).unwrap();
    }
    let head: Vec<String> = head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("etag:"))
        .map(|l| {
            if l.to_ascii_lowercase().starts_with("content-length:") {
                format!("content-length: {}", body.len())
            } else {
                l.to_owned()
            }
        })
        .collect();
    let mut out = head.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    out
}
