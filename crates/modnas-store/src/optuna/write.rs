//! Writing a study into a new SQLite file in Optuna's storage format.

use super::OptunaExportError;
use super::datetime::sql_datetime;
use super::schema;
use super::study::{Study, StudyTrial};
use super::value::StoredFloat;
use rusqlite::{Connection, Transaction, params};
use std::path::{Path, PathBuf};

/// Writes `study` to `path` as an Optuna storage holding that one study.
///
/// An existing file is an error unless `overwrite`; the file is built next to `path` and renamed
/// onto it at the end, so a failed export leaves any earlier file as it was.
pub fn write_sqlite(study: &Study, path: &Path, overwrite: bool) -> Result<(), OptunaExportError> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => {
            return Err(OptunaExportError::NotAFile {
                path: path.to_path_buf(),
                reason: "a directory, not a file".into(),
            });
        }
        Ok(_) if !overwrite => return Err(OptunaExportError::Exists(path.to_path_buf())),
        _ => {}
    }
    let partial = partial_path(path);
    let err = |e: &dyn std::fmt::Display| OptunaExportError::Write {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    // A leftover of an earlier export that was killed.
    let _ = std::fs::remove_file(&partial);
    let result = (|| -> Result<(), OptunaExportError> {
        let mut conn = Connection::open(&partial).map_err(|e| err(&e))?;
        let tx = conn.transaction().map_err(|e| err(&e))?;
        fill(&tx, study).map_err(|e| err(&e))?;
        tx.commit().map_err(|e| err(&e))?;
        conn.close().map_err(|(_, e)| err(&e))?;
        std::fs::rename(&partial, path).map_err(|e| err(&e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// `<file>.partial` in the same directory.
fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn datetime(t: Option<f64>, what: &str, trial: u64) -> rusqlite::Result<Option<String>> {
    match t {
        None => Ok(None),
        Some(secs) => sql_datetime(secs).map(Some).ok_or_else(|| {
            rusqlite::Error::ToSqlConversionFailure(
                format!("trial {trial}: its {what} time {secs} is not a date").into(),
            )
        }),
    }
}

fn fill(tx: &Transaction<'_>, study: &Study) -> rusqlite::Result<()> {
    tx.execute_batch(schema::TABLES)?;
    tx.execute(
        "INSERT INTO version_info (version_info_id, schema_version, library_version) VALUES (1, ?1, ?2)",
        params![schema::SCHEMA_VERSION, schema::LIBRARY_VERSION],
    )?;
    tx.execute(
        "INSERT INTO alembic_version (version_num) VALUES (?1)",
        [schema::ALEMBIC_REVISION],
    )?;
    tx.execute(
        "INSERT INTO studies (study_id, study_name) VALUES (1, ?1)",
        [&study.name],
    )?;
    for (i, d) in study.directions.iter().enumerate() {
        tx.execute(
            "INSERT INTO study_directions (direction, study_id, objective) VALUES (?1, 1, ?2)",
            params![d, i as i64],
        )?;
    }
    for (k, v) in &study.user_attrs {
        tx.execute(
            "INSERT INTO study_user_attributes (study_id, \"key\", value_json) VALUES (1, ?1, ?2)",
            params![k, v.to_json()],
        )?;
    }
    let names = serde_json::Value::Array(
        study
            .metric_names
            .iter()
            .map(|m| serde_json::Value::String(m.clone()))
            .collect(),
    );
    tx.execute(
        "INSERT INTO study_system_attributes (study_id, \"key\", value_json) VALUES (1, 'study:metric_names', ?1)",
        [super::pyjson::dumps(&names)],
    )?;
    for t in &study.trials {
        insert_trial(tx, t)?;
    }
    Ok(())
}

fn insert_trial(tx: &Transaction<'_>, t: &StudyTrial) -> rusqlite::Result<()> {
    let number =
        i64::try_from(t.number).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
    tx.prepare_cached(
        "INSERT INTO trials (number, study_id, state, datetime_start, datetime_complete) VALUES (?1, 1, ?2, ?3, ?4)",
    )?
    .execute(params![
        number,
        t.state.as_str(),
        datetime(t.start, "start", t.number)?,
        datetime(t.complete, "end", t.number)?,
    ])?;
    let id = tx.last_insert_rowid();
    let mut param = tx.prepare_cached(
        "INSERT INTO trial_params (trial_id, param_name, param_value, distribution_json) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for p in &t.params {
        param.execute(params![id, p.name, p.value, p.distribution.to_json()])?;
    }
    let mut value = tx.prepare_cached(
        "INSERT INTO trial_values (trial_id, objective, value, value_type) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (i, v) in t.values.iter().flatten().enumerate() {
        let s = StoredFloat::of(*v);
        value.execute(params![id, i as i64, s.value, s.kind])?;
    }
    let mut inter = tx.prepare_cached(
        "INSERT INTO trial_intermediate_values (trial_id, step, intermediate_value, intermediate_value_type) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (step, v) in &t.intermediate {
        let step =
            i64::try_from(*step).map_err(|e| rusqlite::Error::ToSqlConversionFailure(e.into()))?;
        let s = StoredFloat::of(*v);
        inter.execute(params![id, step, s.value, s.kind])?;
    }
    let mut attr = tx.prepare_cached(
        "INSERT INTO trial_user_attributes (trial_id, \"key\", value_json) VALUES (?1, ?2, ?3)",
    )?;
    for (k, v) in &t.user_attrs {
        attr.execute(params![id, k, v.to_json()])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::optuna::{AttrValue, Distribution, OptunaState, TrialParam};

    fn study() -> Study {
        Study {
            name: "s".into(),
            directions: vec!["MAXIMIZE", "MINIMIZE"],
            metric_names: vec!["acc".into(), "lat".into()],
            user_attrs: vec![("modnas_seed".into(), AttrValue::Json(3.into()))],
            trials: vec![
                StudyTrial {
                    number: 0,
                    state: OptunaState::Complete,
                    start: Some(0.0),
                    complete: Some(1.5),
                    params: vec![TrialParam {
                        name: "n".into(),
                        value: 4.0,
                        distribution: Distribution::Int {
                            low: 1,
                            high: 8,
                            log: false,
                        },
                    }],
                    values: Some(vec![0.5, f64::NEG_INFINITY]),
                    intermediate: vec![(1, 0.25), (2, f64::NAN)],
                    user_attrs: vec![("loss".into(), AttrValue::Float(f64::INFINITY))],
                },
                StudyTrial {
                    number: 1,
                    state: OptunaState::Waiting,
                    start: None,
                    complete: None,
                    params: vec![],
                    values: None,
                    intermediate: vec![],
                    user_attrs: vec![],
                },
            ],
        }
    }

    #[test]
    fn the_file_holds_the_schema_version_and_every_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        write_sqlite(&study(), &path, false).unwrap();
        let c = Connection::open(&path).unwrap();
        let one = |sql: &str| -> String { c.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(one("SELECT version_num FROM alembic_version"), "v3.2.0.a");
        assert_eq!(
            one("SELECT schema_version || ' ' || library_version FROM version_info"),
            "12 5.0.0"
        );
        assert_eq!(
            one("SELECT group_concat(direction || objective, ',') FROM study_directions"),
            "MAXIMIZE0,MINIMIZE1"
        );
        assert_eq!(
            one("SELECT value_json FROM study_system_attributes WHERE key = 'study:metric_names'"),
            r#"["acc", "lat"]"#
        );
        assert_eq!(
            one(
                "SELECT group_concat(number || state || ifnull(datetime_start, '-') || ifnull(datetime_complete, '-'), ',') FROM trials"
            ),
            "0COMPLETE1970-01-01 00:00:00.0000001970-01-01 00:00:01.500000,1WAITING--"
        );
        assert_eq!(
            one(
                "SELECT group_concat(objective || ifnull(value, '-') || value_type, ',') FROM trial_values"
            ),
            "00.5FINITE,1-INF_NEG"
        );
        assert_eq!(
            one(
                "SELECT group_concat(step || ifnull(intermediate_value, '-') || intermediate_value_type, ',') FROM trial_intermediate_values"
            ),
            "10.25FINITE,2-NAN"
        );
        assert_eq!(
            one("SELECT param_name || param_value FROM trial_params"),
            "n4.0"
        );
        assert_eq!(
            one("SELECT key || value_json FROM trial_user_attributes"),
            "lossInfinity"
        );
        assert!(!dir.path().join("o.db.partial").exists());
    }

    #[test]
    fn an_existing_file_is_kept_unless_overwriting() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        std::fs::write(&path, "precious").unwrap();
        let e = write_sqlite(&study(), &path, false).unwrap_err();
        assert!(matches!(e, OptunaExportError::Exists(_)), "{e}");
        assert!(e.to_string().contains("--force"), "{e}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        write_sqlite(&study(), &path, true).unwrap();
        let c = Connection::open(&path).unwrap();
        let n: i64 = c
            .query_row("SELECT COUNT(*) FROM trials", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 2);
        let e = write_sqlite(&study(), dir.path(), true).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
    }

    #[test]
    fn a_failed_write_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.db");
        let mut s = study();
        s.trials[0].start = Some(f64::NAN);
        let e = write_sqlite(&s, &path, false).unwrap_err();
        assert!(e.to_string().contains("not a date"), "{e}");
        assert!(!path.exists());
        assert!(!dir.path().join("o.db.partial").exists());
        let e = write_sqlite(&study(), &dir.path().join("missing/o.db"), false).unwrap_err();
        assert!(e.to_string().contains("missing/o.db"), "{e}");
    }
}
