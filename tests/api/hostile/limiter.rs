//! Hostile inputs: limiter.
