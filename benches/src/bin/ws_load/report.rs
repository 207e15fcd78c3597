//! The figures of one run, as text or JSON.

use std::fmt::Write;
use std::time::Instant;

use crate::procfs::Sample;
use crate::worker;

/// What was asked for.
pub struct Settings {
    pub url: String,
    pub connections: usize,
    pub size: usize,
    pub in_flight: usize,
    pub text: bool,
    pub threads: usize,
    pub idle: bool,
    pub messages: Option<u64>,
}

/// Readings taken by the main thread around the measured window.
#[derive(Default)]
pub struct Outcome {
    pub window_start: Option<Instant>,
    pub window_end: Option<Instant>,
    pub server_start: Option<Sample>,
    pub server_end: Option<Sample>,
    pub own_start: Option<Sample>,
    pub own_end: Option<Sample>,
    pub idle_before: Option<Sample>,
}

pub struct Report {
    settings: Settings,
    pub errors: u64,
    samples: Vec<String>,
    fields: Vec<(&'static str, Value)>,
}

enum Value {
    Num(f64),
    Int(u64),
    Str(String),
    Bool(bool),
}

impl Report {
    pub fn new(
        settings: Settings,
        size: usize,
        o: Outcome,
        workers: Vec<worker::Report>,
    ) -> Report {
        let mut latency = worker::latency_histogram();
        let (mut measured, mut errors, mut samples) = (0u64, 0u64, Vec::new());
        for w in workers {
            let _ = latency.add(&w.latency);
            measured += w.measured;
            errors += w.failures;
            samples.extend(w.samples.iter().map(|f| f.to_string()));
        }
        samples.truncate(10);
        let mut fields = vec![
            (
                "mode",
                Value::Str(
                    if settings.idle {
                        "idle"
                    } else if settings.messages.is_some() {
                        "count"
                    } else {
                        "window"
                    }
                    .into(),
                ),
            ),
            ("url", Value::Str(settings.url.clone())),
            ("connections", Value::Int(settings.connections as u64)),
            ("threads", Value::Int(settings.threads as u64)),
            ("errors", Value::Int(errors)),
        ];
        if settings.idle {
            if let (Some(before), Some(after)) = (o.idle_before, o.server_end) {
                let per =
                    (after.rss_kib as f64 - before.rss_kib as f64) / settings.connections as f64;
                fields.push(("server_rss_before_kib", Value::Int(before.rss_kib)));
                fields.push(("server_rss_kib", Value::Int(after.rss_kib)));
                fields.push(("server_rss_per_connection_kib", Value::Num(per)));
                fields.push(("server_threads", Value::Int(after.threads)));
            }
        } else {
            fields.push(("size", Value::Int(size as u64)));
            fields.push(("in_flight", Value::Int(settings.in_flight as u64)));
            fields.push(("text", Value::Bool(settings.text)));
            let secs = match (o.window_start, o.window_end) {
                (Some(a), Some(b)) => (b - a).as_secs_f64(),
                _ => 0.0,
            };
            let rate = if secs > 0.0 {
                measured as f64 / secs
            } else {
                0.0
            };
            let us = |q: f64| latency.value_at_quantile(q) as f64 / 1000.0;
            fields.extend([
                ("seconds", Value::Num(secs)),
                ("messages", Value::Int(measured)),
                ("msgs_per_s", Value::Num(rate)),
                ("payload_mb_per_s", Value::Num(rate * size as f64 / 1e6)),
                ("latency_p50_us", Value::Num(us(0.5))),
                ("latency_p99_us", Value::Num(us(0.99))),
                ("latency_p999_us", Value::Num(us(0.999))),
                ("latency_max_us", Value::Num(latency.max() as f64 / 1000.0)),
            ]);
            if let (Some(a), Some(b)) = (o.own_start, o.own_end) {
                fields.push(("client_cpu_s", Value::Num(b.cpu_seconds - a.cpu_seconds)));
            }
            if let (Some(a), Some(b)) = (o.server_start, o.server_end) {
                let cpu = b.cpu_seconds - a.cpu_seconds;
                fields.push(("server_cpu_s", Value::Num(cpu)));
                let per_cpu = if cpu > 0.0 {
                    measured as f64 / cpu
                } else {
                    0.0
                };
                fields.push(("msgs_per_server_cpu_s", Value::Num(per_cpu)));
                fields.push(("server_rss_kib", Value::Int(b.rss_kib)));
                fields.push(("server_threads", Value::Int(b.threads)));
            }
        }
        Report {
            settings,
            errors,
            samples,
            fields,
        }
    }

    pub fn json(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.fields.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            let _ = write!(out, "\"{k}\": ");
            match v {
                Value::Num(n) if n.is_finite() => {
                    let _ = write!(out, "{n:.3}");
                }
                Value::Num(_) => out.push_str("null"),
                Value::Int(n) => {
                    let _ = write!(out, "{n}");
                }
                Value::Bool(b) => {
                    let _ = write!(out, "{b}");
                }
                Value::Str(s) => json_string(&mut out, s),
            }
        }
        out.push_str(", \"failures\": [");
        for (i, s) in self.samples.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            json_string(&mut out, s);
        }
        out.push_str("]}");
        out
    }

    pub fn text(&self) -> String {
        let s = &self.settings;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "ws-load {}: {} connection(s), {} thread(s){}",
            s.url,
            s.connections,
            s.threads,
            if s.idle {
                ", idle".to_string()
            } else {
                format!(
                    ", {} B {} messages, {} in flight",
                    s.size,
                    if s.text { "text" } else { "binary" },
                    s.in_flight
                )
            }
        );
        for (k, v) in &self.fields[2..] {
            let v = match v {
                Value::Num(n) => format!("{n:.3}"),
                Value::Int(n) => n.to_string(),
                Value::Str(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
            };
            let _ = writeln!(out, "  {k:<30} {v}");
        }
        for f in &self.samples {
            let _ = writeln!(out, "  failure: {f}");
        }
        out
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}
