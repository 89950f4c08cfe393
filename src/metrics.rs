//! Request counts and latency histograms by route and status, and the broker's operational
//! state (events by type and outcome, Region and STS health, signing-key age), in Prometheus
//! text format.
//!
//! Kept in-process and dependency-free: the label set is small and bounded (route *patterns*,
//! never raw paths, so a scanner cannot blow up the series count; Regions come from the
//! configuration, event types from a fixed list).

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
        family(
            &mut out,
            "fedbroker_http_requests_total",
            "counter",
            "HTTP requests served, by route pattern and status.",
        );
        for ((method, route, status), s) in map.iter() {
            let _ = writeln!(
                out,
                "fedbroker_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {}",
                escape(route),
                s.count
            );
        }
        family(
            &mut out,
            "fedbroker_http_request_duration_seconds",
            "histogram",
            "Time to answer HTTP requests.",
        );
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

/// What the broker is doing and how its dependencies are, gathered at scrape time.
#[derive(Debug, Default)]
pub struct Operations {
    /// `(event type, outcome, count)` of audit events since start: sign-ins, assertions
    /// issued, STS calls, console links, refusals.
    pub events: Vec<(&'static str, &'static str, u64)>,
    /// Passwords checked against a stored hash since start.
    pub password_checks: u64,
    /// Sign-in Regions: `(Region, last probe healthy (None before the first), serving now)`.
    pub sign_in_regions: Vec<(String, Option<bool>, bool)>,
    /// STS endpoints: `(Region, not marked down)`.
    pub sts_endpoints: Vec<(String, bool)>,
    /// Seconds since the signing key was created; `None` when it cannot be read.
    pub signing_key_age_secs: Option<i64>,
}

impl Operations {
    /// The Prometheus text exposition of these values.
    pub fn render(&self) -> String {
        let mut out = String::new();
        family(
            &mut out,
            "fedbroker_events_total",
            "counter",
            "Audit events since start by type and outcome (signin, assertion.issued, sts.assume_role, federation.url_issued, access.denied, ...).",
        );
        for (kind, outcome, n) in &self.events {
            let _ = writeln!(
                out,
                "fedbroker_events_total{{type=\"{kind}\",outcome=\"{outcome}\"}} {n}"
            );
        }
        family(
            &mut out,
            "fedbroker_password_checks_total",
            "counter",
            "Passwords checked against a stored hash.",
        );
        let _ = writeln!(
            out,
            "fedbroker_password_checks_total {}",
            self.password_checks
        );
        region_gauge(
            &mut out,
            "fedbroker_signin_region_up",
            "1 when the last probe of a Region's sign-in endpoint succeeded, 0 when it failed (no sample before the first probe).",
            self.sign_in_regions
                .iter()
                .filter_map(|(region, healthy, _)| Some((region.as_str(), (*healthy)?))),
        );
        region_gauge(
            &mut out,
            "fedbroker_signin_region_serving",
            "1 for the Region console sign-ins are sent to now.",
            self.sign_in_regions
                .iter()
                .map(|(region, _, serving)| (region.as_str(), *serving)),
        );
        region_gauge(
            &mut out,
            "fedbroker_sts_endpoint_up",
            "0 while an STS endpoint is marked down after a failed call, else 1.",
            self.sts_endpoints
                .iter()
                .map(|(region, up)| (region.as_str(), *up)),
        );
        if let Some(age) = self.signing_key_age_secs {
            family(
                &mut out,
                "fedbroker_signing_key_age_seconds",
                "gauge",
                "Age of the key that signs Responses; rotate before your policy's limit.",
            );
            let _ = writeln!(out, "fedbroker_signing_key_age_seconds {age}");
        }
        out
    }
}

/// A 0/1 gauge with one sample per Region.
fn region_gauge<'a>(
    out: &mut String,
    name: &str,
    help: &str,
    samples: impl Iterator<Item = (&'a str, bool)>,
) {
    family(out, name, "gauge", help);
    for (region, value) in samples {
        let _ = writeln!(
            out,
            "{name}{{region=\"{}\"}} {}",
            escape(region),
            u8::from(value)
        );
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
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

    #[test]
    fn operations_render_every_family_with_bounded_labels() {
        let ops = Operations {
            events: vec![("signin", "failure", 3), ("assertion.issued", "success", 7)],
            password_checks: 4,
            sign_in_regions: vec![
                ("us-east-1".into(), Some(false), false),
                ("us-west-2".into(), Some(true), true),
                ("eu-west-1".into(), None, false),
            ],
            sts_endpoints: vec![("us-east-1".into(), false), ("us-west-2".into(), true)],
            signing_key_age_secs: Some(86_400),
        };
        let text = ops.render();
        for line in [
            "fedbroker_events_total{type=\"signin\",outcome=\"failure\"} 3",
            "fedbroker_events_total{type=\"assertion.issued\",outcome=\"success\"} 7",
            "fedbroker_password_checks_total 4",
            "fedbroker_signin_region_up{region=\"us-east-1\"} 0",
            "fedbroker_signin_region_up{region=\"us-west-2\"} 1",
            "fedbroker_signin_region_serving{region=\"us-west-2\"} 1",
            "fedbroker_signin_region_serving{region=\"eu-west-1\"} 0",
            "fedbroker_sts_endpoint_up{region=\"us-east-1\"} 0",
            "fedbroker_signing_key_age_seconds 86400",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
        }
        assert!(
            !text.contains("fedbroker_signin_region_up{region=\"eu-west-1\"}"),
            "no health sample before the first probe"
        );
        let unreadable = Operations::default().render();
        assert!(!unreadable.contains("fedbroker_signing_key_age_seconds"));
    }
}
