//! libpq's password file (`PGPASSFILE`, or `~/.pgpass`): lines `host:port:database:user:password`,
//! `*` matching anything, `\:` and `\\` escaping.

use std::path::{Path, PathBuf};

/// The password file libpq would read: `PGPASSFILE`, else `~/.pgpass`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PGPASSFILE") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").map(|h| Path::new(&h).join(".pgpass"))
}

/// Splits one line into its fields, undoing the escapes.
fn fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => field.extend(chars.next()),
            ':' => out.push(std::mem::take(&mut field)),
            c => field.push(c),
        }
    }
    out.push(field);
    out
}

/// The password of the first line of `text` matching the connection (libpq's order).
pub fn lookup(text: &str, host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let port = port.to_string();
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(fields)
        .filter(|f| f.len() == 5)
        .find(|f| {
            let m = |field: &str, want: &str| field == "*" || field == want;
            // libpq treats a unix-socket connection as host `localhost` in the file.
            let host_ok = m(&f[0], host) || (host.starts_with('/') && m(&f[0], "localhost"));
            host_ok && m(&f[1], &port) && m(&f[2], database) && m(&f[3], user)
        })
        .map(|f| f[4].clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_match_in_order_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:modnas:alice:first\n\
                    *:*:modnas:alice:second\n\
                    *:*:*:bob:pa\\:ss\\\\word\n\
                    short:line\n";
        assert_eq!(
            lookup(text, "db.example", 5432, "modnas", "alice").as_deref(),
            Some("first")
        );
        assert_eq!(
            lookup(text, "other", 6000, "modnas", "alice").as_deref(),
            Some("second")
        );
        assert_eq!(
            lookup(text, "h", 1, "x", "bob").as_deref(),
            Some("pa:ss\\word")
        );
        assert_eq!(lookup(text, "h", 1, "x", "carol"), None);
        assert_eq!(lookup(text, "db.example", 5432, "other", "alice"), None);
    }

    #[test]
    fn a_socket_connection_matches_localhost() {
        let text = "localhost:5432:d:u:pw\n";
        assert_eq!(
            lookup(text, "/run/postgresql", 5432, "d", "u").as_deref(),
            Some("pw")
        );
    }
}
