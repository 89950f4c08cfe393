//! Request counts and latency histograms by route and status, in Prometheus text format.
//!
//! Kept in-process and dependency-free: the label set is small and bounded (route *patterns*,
//! never raw paths, so a scanner cannot blow up the series count).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

#[derive(Default)]
struct Series {
    count: u64,
    sum_secs: f64,
    buckets: [u64; BUCKETS.len()],
}

/// The process's HTTP metrics.
#[derive(Default)]
pub struct Metrics {
    series: Mutex<BTreeMap<(String, String, u16), Series>>,
}

impl Metrics {
    /// Records one finished request.
    pub fn observe(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let secs = elapsed.as_secs_f64();
        let mut map = match self.series.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let s = map
            .entry((method.to_string(), route.to_string(), status))
            .or_default();
        s.count += 1;
        s.sum_secs += secs;
        for (i, bound) in BUCKETS.iter().enumerate() {
            if secs <= *bound {
                s.buckets[i] += 1;
            }
        }
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let map = match self.series.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        let mut out = String::new();
        out.push_str("# HELP fedbroker_http_requests_total HTTP requests served, by route pattern and status.\n");
        out.push_str("# TYPE fedbroker_http_requests_total counter\n");
        for ((method, route, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "fedbroker_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        out.push_str(
            "# HELP fedbroker_http_request_duration_seconds Time to answer HTTP requests.\n",
        );
        out.push_str("# TYPE fedbroker_http_request_duration_seconds histogram\n");
        for ((method, route, status), s) in map.iter() {
            let labels = format!(
                "method=\"{method}\",route=\"{}\",status=\"{status}\"",
                escape(route)
            );
            for (i, bound) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "fedbroker_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {}",
                    s.buckets[i]
                );
            }
            let _ = writeln!(
                out,
                "fedbroker_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                s.count
            );
            let _ = writeln!(
                out,
                "fedbroker_http_request_duration_seconds_sum{{{labels}}} {}",
                s.sum_secs
            );
            let _ = writeln!(
                out,
                "fedbroker_http_request_duration_seconds_count{{{labels}}} {}",
                s.count
            );
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_buckets_by_route_and_status() {
        let m = Metrics::default();
        m.observe("GET", "/login", 200, Duration::from_millis(3));
        m.observe("GET", "/login", 200, Duration::from_millis(30));
        m.observe("POST", "/login", 401, Duration::from_millis(30));
        let text = m.render();
        assert!(
            text.contains(
                "fedbroker_http_requests_total{method=\"GET\",route=\"/login\",status=\"200\"} 2"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "fedbroker_http_requests_total{method=\"POST\",route=\"/login\",status=\"401\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("route=\"/login\",status=\"200\",le=\"0.005\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("route=\"/login\",status=\"200\",le=\"0.05\"} 2"),
            "{text}"
        );
    }
}
