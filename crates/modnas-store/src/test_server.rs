//! A throw-away PostgreSQL server for tests and benchmarks (feature `test-server`).
//!
//! It lives in the library, behind a feature, rather than in a test file, so that this crate's
//! tests, its examples and the command-line crate's tests all start servers the same way (a
//! crate enables it with `modnas-store = { …, features = ["test-server"] }` in its
//! dev-dependencies); builds without the feature contain none of it.
//!
//! [`TestServer::start`] runs `initdb` in a temporary directory, starts the server with
//! `pg_ctl` on a free loopback port (its unix socket in the same directory, so nothing is shared
//! with a system cluster) with password authentication, and creates a database. Dropping the
//! value (also while unwinding from a panic) stops the server and deletes the directory.
//! PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system user.
//! Missing server binaries are an error that says to run `scripts/setup-postgres`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The password of the test server's `postgres` user.
pub const PASSWORD: &str = "modnas-test-pw";

/// A running throw-away server; stopped and deleted on drop.
pub struct TestServer {
    dir: Option<tempfile::TempDir>,
    bin: PathBuf,
    port: u16,
    database: String,
    as_postgres: bool,
}

/// Why a test server could not start.
#[derive(Debug, thiserror::Error)]
#[error("test PostgreSQL server: {0}")]
pub struct TestServerError(String);

/// The directory of `initdb` and `pg_ctl`: `MODNAS_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin`, else the directory of an `initdb` on `PATH`.
pub fn server_bin_dir() -> Result<PathBuf, TestServerError> {
    let has = |d: &Path| d.join("initdb").is_file() && d.join("pg_ctl").is_file();
    if let Some(d) = std::env::var_os("MODNAS_PG_BIN") {
        let d = PathBuf::from(d);
        if has(&d) {
            return Ok(d);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_string_lossy().parse().ok()?;
            let bin = e.path().join("bin");
            has(&bin).then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&path) {
            if has(&d) {
                return Ok(d);
            }
        }
    }
    Err(TestServerError(
        "the PostgreSQL server binaries (initdb, pg_ctl) are not installed; run scripts/setup-postgres"
            .into(),
    ))
}

fn is_root() -> bool {
    // The effective user of this process owns the files it creates.
    let probe = std::env::temp_dir().join(format!(".modnas-uid-probe-{}", std::process::id()));
    let root = std::fs::write(&probe, b"")
        .ok()
        .and_then(|_| std::fs::metadata(&probe).ok())
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let _ = std::fs::remove_file(&probe);
    root
}

fn free_port() -> Result<u16, TestServerError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| TestServerError(format!("no free loopback port: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| TestServerError(e.to_string()))
}

impl TestServer {
    /// Starts a server with a database named `database`.
    pub fn start(database: &str) -> Result<TestServer, TestServerError> {
        let bin = server_bin_dir()?;
        let as_postgres = is_root();
        let dir = tempfile::Builder::new()
            .prefix("modnas-pg-")
            .tempdir()
            .map_err(|e| TestServerError(format!("no temporary directory: {e}")))?;
        let mut server = TestServer {
            dir: Some(dir),
            bin,
            port: 0,
            database: database.to_string(),
            as_postgres,
        };
        let root = server.dir()?.to_path_buf();
        let pwfile = root.join("pw");
        std::fs::write(&pwfile, PASSWORD).map_err(|e| TestServerError(e.to_string()))?;
        if as_postgres {
            server.run_plain(Command::new("chown").arg("-R").arg("postgres:").arg(&root))?;
        }
        let data = root.join("data");
        let mut initdb = server.pg_command("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .args(["-E", "UTF8", "--no-sync"]);
        server.run(initdb, "initdb")?;
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            let mut start = server.pg_command("pg_ctl");
            start
                .arg("-D")
                .arg(&data)
                .arg("-l")
                .arg(root.join("log"))
                .arg("-w")
                .arg("-o")
                .arg(format!(
                    "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
                    server.port,
                    root.display()
                ))
                .arg("start");
            match server.run(start, "pg_ctl start") {
                Ok(()) => {
                    last.clear();
                    break;
                }
                Err(e) => last = e.0,
            }
        }
        if !last.is_empty() {
            let log = std::fs::read_to_string(root.join("log")).unwrap_or_default();
            return Err(TestServerError(format!("{last}\nserver log:\n{log}")));
        }
        let mut create = server.pg_command("createdb");
        create
            .args(["-h"])
            .arg(&root)
            .args(["-p", &server.port.to_string(), "-U", "postgres"])
            .arg(database);
        if !server.bin.join("createdb").is_file() {
            // Debian keeps the client programs with the server binaries; fall back to PATH.
            create = Command::new("createdb");
            create
                .arg("-h")
                .arg(&root)
                .args(["-p", &server.port.to_string(), "-U", "postgres"])
                .arg(database);
        }
        server.run(create, "createdb")?;
        Ok(server)
    }

    fn dir(&self) -> Result<&Path, TestServerError> {
        self.dir
            .as_ref()
            .map(|d| d.path())
            .ok_or_else(|| TestServerError("the server was stopped".into()))
    }

    /// A command running program `name` of the server, as `postgres` when this process is root.
    fn pg_command(&self, name: &str) -> Command {
        let program = self.bin.join(name);
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    fn run(&self, mut c: Command, what: &str) -> Result<(), TestServerError> {
        let out = c
            .output()
            .map_err(|e| TestServerError(format!("cannot run {what}: {e}")))?;
        if !out.status.success() {
            return Err(TestServerError(format!(
                "{what} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    fn run_plain(&self, c: &mut Command) -> Result<(), TestServerError> {
        let out = c
            .output()
            .map_err(|e| TestServerError(format!("cannot run {c:?}: {e}")))?;
        if !out.status.success() {
            return Err(TestServerError(format!(
                "{c:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(())
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the database, with the password.
    pub fn url(&self) -> String {
        self.url_for(&self.database)
    }

    /// The URL of another database of this server, with the password.
    pub fn url_for(&self, database: &str) -> String {
        format!(
            "postgresql://postgres:{PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// The URL of the database without a password (for tests of the other password sources).
    pub fn url_without_password(&self) -> String {
        format!(
            "postgresql://postgres@127.0.0.1:{}/{}",
            self.port, self.database
        )
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let Some(dir) = self.dir.take() else { return };
        let mut stop = self.pg_command("pg_ctl");
        stop.arg("-D")
            .arg(dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        drop(dir);
    }
}
