//! `catalog-loadgen`: sends GET requests to one URL at a fixed rate over
//! keep-alive HTTP/1.1 connections and prints one JSON object of the
//! achieved rate and latency percentiles.
//!
//! Why not oha: on the 2-core benchmark machine oha itself topped out at
//! about 3,150 requests/s closed loop against a server wrk drives at
//! 6,900, so its fixed-rate runs measured oha. This client is as thin as
//! wrk (hand-written requests, one read buffer per connection, one runtime
//! thread by default) and corrects for coordinated omission the way wrk2
//! does: connection `i` of `c` sends its `k`-th request at
//! `start + (i + k·c) / rate`, and a request's latency runs from that
//! scheduled time, so a stall counts against every request it delays.

use std::time::{Duration, Instant};

use clap::Parser;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Parser, Debug)]
#[command(about = "Fixed-rate HTTP/1.1 GET load with coordinated-omission-corrected latency")]
struct Args {
    /// `http://host:port/path?query` (plain HTTP).
    url: String,
    /// Requests per second, over all connections.
    #[arg(long)]
    rate: f64,
    /// Keep-alive connections.
    #[arg(long, default_value_t = 64)]
    connections: usize,
    /// Seconds to send for.
    #[arg(long, default_value_t = 10.0)]
    duration: f64,
    /// Runtime threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Seconds a request may take before it counts as an error.
    #[arg(long, default_value_t = 30.0)]
    timeout: f64,
}

/// Host (`host:port`) and request target of a plain-HTTP URL.
fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("only http:// URLs are supported")?;
    let (host, target) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if host.is_empty() {
        return Err("the URL has no host".into());
    }
    let host = if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:80")
    };
    Ok((host, target.to_string()))
}

/// What one response was, once fully read.
#[derive(Debug, PartialEq, Eq)]
struct Response {
    status: u16,
    /// The server will close the connection after it.
    close: bool,
}

/// Parses a complete response at the start of `buf`: `Some((response,
/// its length))`, or `None` when more bytes are needed.
fn parse_response(buf: &[u8]) -> Result<Option<(Response, usize)>, String> {
    let Some(head_end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buf[..head_end]).map_err(|_| "non-UTF-8 response head")?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let (mut length, mut chunked, mut close) = (None, false, false);
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = Some(value.parse::<usize>().map_err(|_| "bad content-length")?);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            close = value.eq_ignore_ascii_case("close");
        }
    }
    let body = head_end + 4;
    let end = if chunked {
        match chunked_end(&buf[body..])? {
            Some(n) => body + n,
            None => return Ok(None),
        }
    } else {
        body + length.unwrap_or(0)
    };
    Ok((buf.len() >= end).then_some((Response { status, close }, end)))
}

/// The length of a complete chunked body at the start of `buf`, or `None`
/// when more bytes are needed (trailers are not supported).
fn chunked_end(buf: &[u8]) -> Result<Option<usize>, String> {
    let mut at = 0;
    loop {
        let Some(eol) = buf[at..].windows(2).position(|w| w == b"\r\n") else {
            return Ok(None);
        };
        let size_text = std::str::from_utf8(&buf[at..at + eol]).map_err(|_| "bad chunk size")?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| "bad chunk size")?;
        at += eol + 2;
        if size == 0 {
            return Ok((buf.len() >= at + 2).then_some(at + 2));
        }
        at += size + 2;
        if buf.len() < at {
            return Ok(None);
        }
    }
}

/// The value at quantile `q` (0..=1) of sorted `v`, nearest rank.
fn quantile(v: &[u64], q: f64) -> u64 {
    if v.is_empty() {
        return 0;
    }
    let rank = (q * v.len() as f64).ceil() as usize;
    v[rank.clamp(1, v.len()) - 1]
}

#[derive(Default)]
struct Tally {
    /// Corrected latencies, microseconds.
    latencies: Vec<u64>,
    non_2xx: u64,
    errors: u64,
}

/// One connection's schedule: its requests at `first`, `first + every`, …
/// until `end`.
async fn connection(
    host: String,
    request: Vec<u8>,
    first: Instant,
    every: Duration,
    end: Instant,
    timeout: Duration,
) -> Tally {
    let mut tally = Tally::default();
    let mut stream: Option<TcpStream> = None;
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut scheduled = first;
    while scheduled < end {
        tokio::time::sleep_until(scheduled.into()).await;
        let outcome = tokio::time::timeout(timeout, async {
            if stream.is_none() {
                let s = TcpStream::connect(&host).await.map_err(|e| e.to_string())?;
                s.set_nodelay(true).map_err(|e| e.to_string())?;
                stream = Some(s);
                buf.clear();
            }
            let s = stream.as_mut().ok_or("no connection")?;
            s.write_all(&request).await.map_err(|e| e.to_string())?;
            loop {
                if let Some((res, len)) = parse_response(&buf)? {
                    buf.drain(..len);
                    return Ok::<Response, String>(res);
                }
                let mut chunk = [0u8; 16 * 1024];
                let n = s.read(&mut chunk).await.map_err(|e| e.to_string())?;
                if n == 0 {
                    return Err("connection closed".into());
                }
                buf.extend_from_slice(&chunk[..n]);
            }
        })
        .await;
        match outcome {
            Ok(Ok(res)) => {
                tally.latencies.push(
                    scheduled
                        .elapsed()
                        .as_micros()
                        .try_into()
                        .unwrap_or(u64::MAX),
                );
                if !(200..300).contains(&res.status) {
                    tally.non_2xx += 1;
                }
                if res.close {
                    stream = None;
                }
            }
            Ok(Err(_)) | Err(_) => {
                tally.errors += 1;
                stream = None;
            }
        }
        scheduled += every;
    }
    tally
}

async fn run(args: Args) -> Result<serde_json::Value, String> {
    let positive = |x: f64| x.is_finite() && x > 0.0;
    if !positive(args.rate) {
        return Err("--rate must be a positive number".into());
    }
    if args.connections == 0 || !positive(args.duration) {
        return Err("--connections and --duration must be positive".into());
    }
    let (host, target) = split_url(&args.url)?;
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: catalog-loadgen\r\n\r\n")
            .into_bytes();
    let c = args.connections;
    let every = Duration::from_secs_f64(c as f64 / args.rate);
    let start = Instant::now() + Duration::from_millis(100);
    let end = start + Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);
    let tasks: Vec<_> = (0..c)
        .map(|i| {
            let first = start + Duration::from_secs_f64(i as f64 / args.rate);
            tokio::spawn(connection(
                host.clone(),
                request.clone(),
                first,
                every,
                end,
                timeout,
            ))
        })
        .collect();
    let mut all = Tally::default();
    for t in tasks {
        let t = t.await.map_err(|e| e.to_string())?;
        all.latencies.extend(t.latencies);
        all.non_2xx += t.non_2xx;
        all.errors += t.errors;
    }
    let finished = start.elapsed().as_secs_f64();
    all.latencies.sort_unstable();
    let ms = |q: f64| quantile(&all.latencies, q) as f64 / 1000.0;
    Ok(serde_json::json!({
        "url": args.url,
        "rate_target": args.rate,
        "connections": c,
        "duration_s": args.duration,
        "requests": all.latencies.len(),
        "achieved_rps": all.latencies.len() as f64 / finished.max(args.duration),
        "p50_ms": ms(0.50),
        "p90_ms": ms(0.90),
        "p99_ms": ms(0.99),
        "p999_ms": ms(0.999),
        "max_ms": ms(1.0),
        "non_2xx": all.non_2xx,
        "errors": all.errors,
    }))
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build();
    let result = match runtime {
        Ok(rt) => rt.block_on(run(args)),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("catalog-loadgen: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/api/v1/products?x=1").unwrap(),
            ("127.0.0.1:8080".into(), "/api/v1/products?x=1".into())
        );
        assert_eq!(
            split_url("http://example.test").unwrap(),
            ("example.test:80".into(), "/".into())
        );
        assert!(split_url("https://x/").is_err());
        assert!(split_url("http:///x").is_err());
    }

    #[test]
    fn sized_responses_need_their_whole_body() {
        let res = b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello";
        for cut in 0..res.len() {
            assert_eq!(parse_response(&res[..cut]).unwrap(), None, "cut at {cut}");
        }
        let mut two = res.to_vec();
        two.extend_from_slice(b"HTTP/1.1 503 x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
        let (first, len) = parse_response(&two).unwrap().unwrap();
        assert_eq!(
            (first, len),
            (
                Response {
                    status: 200,
                    close: false
                },
                res.len()
            )
        );
        let (second, _) = parse_response(&two[len..]).unwrap().unwrap();
        assert_eq!(
            second,
            Response {
                status: 503,
                close: true
            }
        );
    }

    #[test]
    fn chunked_responses() {
        let res = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\n\r\n";
        for cut in 0..res.len() {
            assert_eq!(parse_response(&res[..cut]).unwrap(), None, "cut at {cut}");
        }
        assert_eq!(parse_response(res).unwrap().unwrap().1, res.len());
        assert!(
            parse_response(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n").is_err()
        );
        assert!(parse_response(b"garbage\r\n\r\n").is_err());
    }

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(quantile(&v, 0.5), 50);
        assert_eq!(quantile(&v, 0.99), 99);
        assert_eq!(quantile(&v, 1.0), 100);
        assert_eq!(quantile(&v, 0.0), 1);
        assert_eq!(quantile(&[], 0.5), 0);
    }
}
