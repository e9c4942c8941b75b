//! The PostgreSQL journal: one database shared by many runs and many worker machines.
//!
//! Trials are the work queue: a worker claims the oldest waiting trial with
//! `SELECT … FOR UPDATE SKIP LOCKED` (so concurrent claims never wait on each other and never
//! take the same trial), which starts a lease stamped with the server's clock (`now()`);
//! [`Journal::heartbeat`](modnas_core::journal::Journal::heartbeat) renews it, and [`Journal::reap`](modnas_core::journal::Journal::reap) puts trials whose lease is older than
//! the lease length back in the queue. Finishing and recording steps are guarded by the claiming
//! worker, so a worker whose lease expired gets `false` and never overwrites a newer result.

mod connect;
mod journal;
mod passfile;
mod row;
mod schema;

pub use connect::{ConnSpec, Target, is_postgres_url};
pub use journal::{DEFAULT_LEASE, PgJournal};
pub use schema::SCHEMA_VERSION;
