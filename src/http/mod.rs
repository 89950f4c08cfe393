//! The HTTP face of the broker: handlers (`routes`), the shared state they read (`state`),
//! response policy and metrics (`middleware`), and error pages (`error`). Handlers are thin:
//! they authorise through extractors, parse, make one service call and render.

pub mod error;
pub mod middleware;
pub mod routes;
pub mod state;
