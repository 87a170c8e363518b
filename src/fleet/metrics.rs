//! Counters of the fleet's tool calls for `/metrics`: calls, errors and a latency histogram per
//! server and tool, and the calls in flight. A call takes the map's read lock only to find its
//! counters (a scrape holds it only to copy the list), then counts with atomics.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
/// At most this many (server, tool) series; a fleet's tools beyond it are not counted per tool.
const MAX_SERIES: usize = 4096;

#[derive(Default)]
pub struct ToolStats {
    server: String,
    calls: AtomicU64,
    errors: AtomicU64,
    /// Calls per bucket (not cumulative); the last one is +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    micros: AtomicU64,
}

#[derive(Default)]
pub struct CallMetrics {
    tools: RwLock<HashMap<String, Arc<ToolStats>>>,
    in_flight: AtomicI64,
}

/// Counts a call in flight until dropped.
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl CallMetrics {
    pub fn started(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight(&self.in_flight)
    }

    pub fn in_flight(&self) -> i64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Counts one finished call of `tool` (its public name) on `server`.
    pub fn record(&self, server: &str, tool: &str, took: Duration, failed: bool) {
        let found = self.tools.read().ok().and_then(|tools| tools.get(tool).cloned());
        let stats = match found {
            Some(stats) if stats.server == server => stats,
            _ => {
                let Ok(mut tools) = self.tools.write() else { return };
                if tools.len() >= MAX_SERIES && !tools.contains_key(tool) {
                    return;
                }
                let fresh = || Arc::new(ToolStats { server: server.to_owned(), ..ToolStats::default() });
                // A tool name now served by another server starts over.
                let entry = tools.entry(tool.to_owned()).or_insert_with(fresh);
                if entry.server != server {
                    *entry = fresh();
                }
                entry.clone()
            }
        };
        stats.calls.fetch_add(1, Ordering::Relaxed);
        if failed {
            stats.errors.fetch_add(1, Ordering::Relaxed);
        }
        let seconds = took.as_secs_f64();
        let bucket = BUCKETS.iter().position(|&bound| seconds <= bound).unwrap_or(BUCKETS.len());
        stats.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        stats.micros.fetch_add(u64::try_from(took.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The call counters in Prometheus' text format.
    pub fn render(&self, out: &mut String) {
        let mut tools: Vec<(String, Arc<ToolStats>)> = match self.tools.read() {
            Ok(tools) => tools.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            Err(_) => Vec::new(),
        };
        tools.sort_by(|a, b| a.0.cmp(&b.0));
        let labels = |tool: &str, stats: &ToolStats| format!("server=\"{}\",tool=\"{}\"", escape(&stats.server), escape(tool));
        header(out, "mcpfleet_tool_calls_total", "counter", "Tool calls through the fleet, by server and tool.");
        for (tool, stats) in &tools {
            let _ = writeln!(out, "mcpfleet_tool_calls_total{{{}}} {}", labels(tool, stats), stats.calls.load(Ordering::Relaxed));
        }
        header(out, "mcpfleet_tool_call_errors_total", "counter", "Tool calls that failed or returned isError, by server and tool.");
        for (tool, stats) in &tools {
            let _ = writeln!(out, "mcpfleet_tool_call_errors_total{{{}}} {}", labels(tool, stats), stats.errors.load(Ordering::Relaxed));
        }
        header(out, "mcpfleet_tool_call_duration_seconds", "histogram", "Time from a tool call to its result, by server and tool.");
        for (tool, stats) in &tools {
            let labels = labels(tool, stats);
            let mut cumulative = 0;
            for (i, bound) in BUCKETS.iter().map(|b| b.to_string()).chain(["+Inf".to_owned()]).enumerate() {
                cumulative += stats.buckets[i].load(Ordering::Relaxed);
                let _ = writeln!(out, "mcpfleet_tool_call_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}");
            }
            let seconds = stats.micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(out, "mcpfleet_tool_call_duration_seconds_sum{{{labels}}} {seconds}");
            let _ = writeln!(out, "mcpfleet_tool_call_duration_seconds_count{{{labels}}} {cumulative}");
        }
        header(out, "mcpfleet_tool_calls_in_flight", "gauge", "Tool calls started and not finished.");
        let _ = writeln!(out, "mcpfleet_tool_calls_in_flight {}", self.in_flight());
    }
}

pub fn header(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value as the text format wants it.
pub fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_are_counted_per_tool_with_a_cumulative_histogram() {
        let metrics = CallMetrics::default();
        {
            let _call = metrics.started();
            assert_eq!(metrics.in_flight(), 1);
        }
        metrics.record("wetter", "wetter_heute", Duration::from_millis(3), false);
        metrics.record("wetter", "wetter_heute", Duration::from_millis(70), true);
        metrics.record("zeit\"ä", "zeit_jetzt", Duration::from_secs(100), false);
        let mut out = String::new();
        metrics.render(&mut out);
        assert!(out.contains("mcpfleet_tool_calls_total{server=\"wetter\",tool=\"wetter_heute\"} 2"), "{out}");
        assert!(out.contains("mcpfleet_tool_call_errors_total{server=\"wetter\",tool=\"wetter_heute\"} 1"));
        assert!(out.contains("mcpfleet_tool_call_duration_seconds_bucket{server=\"wetter\",tool=\"wetter_heute\",le=\"0.005\"} 1"));
        assert!(out.contains("mcpfleet_tool_call_duration_seconds_bucket{server=\"wetter\",tool=\"wetter_heute\",le=\"0.1\"} 2"));
        assert!(out.contains("mcpfleet_tool_call_duration_seconds_bucket{server=\"zeit\\\"ä\",tool=\"zeit_jetzt\",le=\"30\"} 0"));
        assert!(out.contains("mcpfleet_tool_call_duration_seconds_bucket{server=\"zeit\\\"ä\",tool=\"zeit_jetzt\",le=\"+Inf\"} 1"));
        assert!(out.contains("mcpfleet_tool_calls_in_flight 0"));
    }
}
