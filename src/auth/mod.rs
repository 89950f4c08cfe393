//! Who is acting and what they may do: browser sessions, the sign-in limiter, API tokens,
//! re-checks of upstream tokens, and the recorded refusals of access.

pub mod access;
pub mod api_tokens;
pub mod cli_sign_in;
pub mod limiter;
pub mod session_list;
pub mod sessions;
pub mod signin;
pub mod token_recheck;
pub mod user_admin;
