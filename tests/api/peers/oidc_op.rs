//! The npm `oidc-provider` (`tests/peers/op.mjs`) as the upstream OpenID Provider.

use std::process::{Child, Command, Stdio};

use super::{peers_dir, wait_for_port};

/// The OpenID Provider process, killed on drop.
pub struct Op {
    child: Child,
    pub port: u16,
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Op {
    /// Starts the provider on `port` for a broker at `broker`.
    pub async fn start(port: u16, broker: &str, id_token_ttl: u32, mode: &str, host: &str) -> Op {
        let child = Command::new("node")
            .arg(peers_dir().join("op.mjs"))
            .args([
                &port.to_string(),
                &format!("{broker}/login/oidc/op/callback"),
                &id_token_ttl.to_string(),
                mode,
                host,
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node runs the OpenID Provider (install the peers with `bash .ci/deps`)");
        wait_for_port(port, "the OpenID Provider (node tests/peers/op.mjs)").await;
        Op { child, port }
    }
}
