//! Hostile inputs: sessions.
