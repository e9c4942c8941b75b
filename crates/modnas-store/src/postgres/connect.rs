//! Connecting to PostgreSQL from a libpq-style URL or keyword string, with libpq's password
//! sources, and error messages that name the server but never the password.

use super::passfile;
use modnas_core::journal::JournalError;
use postgres::config::Host;
use postgres::{Client, Config, NoTls};
use std::str::FromStr;

/// Whether `spec` names a PostgreSQL database (a `postgresql://` or `postgres://` URL).
pub fn is_postgres_url(spec: &str) -> bool {
    let lower = spec.trim_start().to_ascii_lowercase();
    lower.starts_with("postgresql://") || lower.starts_with("postgres://")
}

/// Where a connection goes, for messages: host, port, user and database, no password.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// Host name, address or unix-socket directory.
    pub host: String,
    /// Port.
    pub port: u16,
    /// User name.
    pub user: String,
    /// Database name.
    pub database: String,
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "host={} port={} user={} dbname={}",
            self.host, self.port, self.user, self.database
        )
    }
}

/// A parsed connection: the client configuration (password resolved) and its printable target.
pub struct ConnSpec {
    config: Config,
    target: Target,
    password_source: &'static str,
}

impl ConnSpec {
    /// Parses `spec` (`postgresql://user:pw@host:port/db?…` or `host=… user=… dbname=…`).
    /// Missing pieces default as in libpq: user from `PGUSER`/`USER`, database = user, host
    /// `localhost`, port 5432; the password from the spec, else `PGPASSWORD`, else the password
    /// file (`PGPASSFILE` or `~/.pgpass`).
    pub fn parse(spec: &str) -> Result<ConnSpec, JournalError> {
        let mut config = Config::from_str(spec.trim()).map_err(|e| {
            // The parser's message quotes no input, but say only what kind of spec failed.
            JournalError::Storage(format!(
                "cannot read the PostgreSQL connection string ({}): {e}",
                if is_postgres_url(spec) {
                    "URL"
                } else {
                    "keyword string"
                }
            ))
        })?;
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".into());
            config.user(&user);
        }
        let user = config.get_user().unwrap_or_default().to_string();
        if config.get_dbname().is_none() {
            config.dbname(&user);
        }
        if config.get_hosts().is_empty() {
            config.host("localhost");
        }
        let host = match &config.get_hosts()[0] {
            Host::Tcp(h) => h.clone(),
            Host::Unix(p) => p.display().to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let database = config.get_dbname().unwrap_or_default().to_string();
        let mut password_source = "the connection string";
        if config.get_password().is_none() {
            if let Ok(pw) = std::env::var("PGPASSWORD") {
                config.password(pw);
                password_source = "PGPASSWORD";
            } else if let Some(path) = passfile::default_path()
                && let Ok(text) = std::fs::read_to_string(&path)
                && let Some(pw) = passfile::lookup(&text, &host, port, &database, &user)
            {
                config.password(pw);
                password_source = "the password file";
            }
        }
        if config.get_password().is_none() {
            password_source = "none given";
        }
        Ok(ConnSpec {
            config,
            target: Target {
                host,
                port,
                user,
                database,
            },
            password_source,
        })
    }

    /// Where it connects (printable).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// Opens a connection.
    pub fn connect(&self) -> Result<Client, JournalError> {
        self.config
            .connect(NoTls)
            .map_err(|e| self.connect_error(&e))
    }

    fn connect_error(&self, e: &postgres::Error) -> JournalError {
        let code = e.code().map(|c| c.code().to_string());
        let hint = match code.as_deref() {
            Some("28P01") | Some("28000") => format!(
                ": authentication failed (password: {}); check the password in the URL, PGPASSWORD or PGPASSFILE/~/.pgpass",
                self.password_source
            ),
            Some("3D000") => ": the database does not exist; create it first (createdb)".into(),
            _ => String::new(),
        };
        JournalError::Storage(format!(
            "cannot connect to PostgreSQL ({}){hint}: {}",
            self.target,
            error_text(e)
        ))
    }
}

/// The text of a client error, including the server's message (no password ever appears in it).
pub fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{}: {}", db.severity(), db.message()),
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(inner) = src {
                s.push_str(&format!(": {inner}"));
                src = inner.source();
            }
            s
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_recognised() {
        assert!(is_postgres_url("postgresql://u@h/db"));
        assert!(is_postgres_url("POSTGRES://h"));
        assert!(!is_postgres_url("runs/r/journal.sqlite"));
        assert!(!is_postgres_url("host=h dbname=d"));
    }

    #[test]
    fn the_target_names_everything_but_the_password() {
        let c = ConnSpec::parse("postgresql://alice:s3cret-pw@db.example:6543/modnas").unwrap();
        let t = c.target().to_string();
        assert_eq!(t, "host=db.example port=6543 user=alice dbname=modnas");
        assert!(!t.contains("s3cret"));
        let c = ConnSpec::parse("host=h user=bob password=hunter2 dbname=x").unwrap();
        assert_eq!(c.target().to_string(), "host=h port=5432 user=bob dbname=x");
    }

    #[test]
    fn a_bad_spec_does_not_echo_it() {
        let e = ConnSpec::parse("postgresql://u:topsecret@h:notaport/db")
            .err()
            .expect("bad port");
        assert!(!e.to_string().contains("topsecret"), "{e}");
    }
}
