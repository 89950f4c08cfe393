//! Where people and their groups come from. Every source yields an [`Identity`].

pub mod local;

/// A signed-in person as the rest of the broker sees them, whatever the source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_id: i64,
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub groups: Vec<String>,
    pub must_change_password: bool,
}
