//! Hostile inputs: sources.
