//! A PostgreSQL cluster of its own (Debian's binaries), for tests that stop and start the
//! database under a running broker: the suite's shared cluster (`.ci/postgres`) must stay up
//! for every other test. Stopped and removed on drop.

use std::path::PathBuf;
use std::process::Command;

use super::free_port;

pub struct Postgres {
    pub port: u16,
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Postgres {
    /// initdb and start on a free loopback port (fsync off: a test, not a disk benchmark).
    pub fn start() -> Postgres {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("Debian's PostgreSQL is installed (.ci/deps)")
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .filter(|p| p.join("pg_ctl").exists())
            .max()
            .expect("a PostgreSQL version with pg_ctl");
        let dir = tempfile::tempdir().expect("tempdir");
        if is_root() {
            run(Command::new("chown").arg("postgres").arg(dir.path()));
        }
        let pg = Postgres {
            port: free_port(),
            bin,
            dir,
        };
        pg.as_owner(&[
            "initdb",
            "-D",
            &pg.data(),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        pg.start_again();
        pg
    }

    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// Starts the stopped cluster on the same port, and waits until it accepts connections.
    pub fn start_again(&self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c full_page_writes=off",
            self.port,
            self.dir.path().display()
        );
        let log = self.dir.path().join("server.log").display().to_string();
        self.as_owner(&[
            "pg_ctl",
            "-D",
            &self.data(),
            "-l",
            &log,
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ]);
    }

    /// Stops the cluster (fast: open connections are cut, as in a restart or a failover).
    pub fn stop(&self) {
        self.as_owner(&["pg_ctl", "-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    /// `args[0]` of this PostgreSQL's binaries, run as the `postgres` user when we are root
    /// (PostgreSQL refuses to run as root).
    fn owner_command(&self, args: &[&str]) -> Command {
        let program = self.bin.join(args[0]);
        let mut cmd = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.args(&args[1..]);
        cmd
    }

    fn as_owner(&self, args: &[&str]) {
        run(&mut self.owner_command(args));
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = self
            .owner_command(&["pg_ctl", "-D", &data, "-m", "immediate", "stop"])
            .output();
    }
}

fn is_root() -> bool {
    // The effective user id, from the process's own status.
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

fn run(cmd: &mut Command) {
    let out = cmd.output().expect("command runs");
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
