//! The files a search leaves in its run directory: `best.yaml` and `pareto.yaml`.

use crate::config::yaml::emit;
use crate::estimator::Estimator;
use crate::objective::Objectives;
use crate::param::ParamSpace;
use crate::trial::Trial;
use serde_json::{Value, json};
use std::path::Path;

/// A trial as written to `best.yaml` / `pareto.yaml`.
pub fn trial_summary(space: &ParamSpace, estimator: Option<&dyn Estimator>, t: &Trial) -> Value {
    let mut v = json!({
        "trial": t.number,
        "seed": t.seed,
        "params": Value::Object(space.to_json(&t.params)),
        "metrics": t.metrics,
    });
    if let Some(d) = estimator.and_then(|e| e.describe(space, &t.params)) {
        v["description"] = Value::String(d);
    }
    if let Some(c) = t.cost {
        v["cost"] = json!(c);
    }
    v
}

/// Writes `best.yaml` (and `pareto.yaml` when there are several objectives) atomically.
pub fn write_results(
    dir: &Path,
    space: &ParamSpace,
    objectives: &Objectives,
    estimator: Option<&dyn Estimator>,
    trials: &[Trial],
    best: Option<usize>,
    pareto: &[usize],
) -> std::io::Result<()> {
    if let Some(b) = best {
        let mut v = trial_summary(space, estimator, &trials[b]);
        v["objective"] = json!({"metric": objectives.primary().metric, "direction": objectives.primary().direction});
        write_atomic(&dir.join("best.yaml"), &emit(&v))?;
    }
    if objectives.len() > 1 {
        let mut front: Vec<&Trial> = pareto.iter().map(|&i| &trials[i]).collect();
        let m = &objectives.primary().metric;
        front.sort_by(|a, b| {
            a.metrics
                .get(m)
                .partial_cmp(&b.metrics.get(m))
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        let v = json!({
            "objectives": objectives.0,
            "front": front.iter().map(|t| trial_summary(space, estimator, t)).collect::<Vec<_>>(),
        });
        write_atomic(&dir.join("pareto.yaml"), &emit(&v))?;
    }
    Ok(())
}

/// Writes a file through a temporary file and a rename, so readers never see half of it: the
/// temporary file has a name of its own in the same directory (several writers of one file do
/// not meet), its data is flushed to disk before the rename and the directory after it, and it
/// is removed when anything fails.
pub fn write_atomic(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{} does not name a file", path.display()),
        )
    })?;
    let (mut file, tmp) = {
        let mut tries = 0;
        loop {
            let tmp = dir.join(format!(
                ".{}.{}-{}.tmp~",
                name.to_string_lossy(),
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
            {
                Ok(f) => break (f, tmp),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 100 => {
                    tries += 1;
                }
                Err(e) => return Err(e),
            }
        }
    };
    let written = file
        .write_all(text.as_bytes())
        .and_then(|()| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename itself is durable once the directory is flushed; file systems that cannot
    // flush a directory say so with one of these errors, which are not failures of the write.
    match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
        Err(e)
            if !matches!(
                e.kind(),
                std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
            ) =>
        {
            Err(e)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::write_atomic;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn entries(dir: &std::path::Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn concurrent_writers_never_leave_a_partial_file_or_a_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = Arc::new(dir.path().join("report.html"));
        const SIZE: usize = 256 * 1024;
        write_atomic(&path, &"a".repeat(SIZE)).unwrap();
        let done = Arc::new(AtomicBool::new(false));
        let reader = {
            let (path, done) = (path.clone(), done.clone());
            std::thread::spawn(move || {
                let mut reads = 0;
                while !done.load(Ordering::SeqCst) {
                    let t = std::fs::read_to_string(path.as_path()).unwrap();
                    assert_eq!(t.len(), SIZE, "a whole file");
                    let c = t.as_bytes()[0];
                    assert!(t.bytes().all(|b| b == c), "one writer's file");
                    reads += 1;
                }
                reads
            })
        };
        let writers: Vec<_> = (0..6u8)
            .map(|k| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let text = ((b'b' + k) as char).to_string().repeat(SIZE);
                    for _ in 0..40 {
                        write_atomic(&path, &text).unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::SeqCst);
        assert!(reader.join().unwrap() > 0);
        assert_eq!(
            entries(dir.path()),
            ["report.html"],
            "no temporary file is left"
        );
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        // A directory is in the way: the rename fails after the data was written.
        let target = dir.path().join("best.yaml");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("inside"), "x").unwrap();
        assert!(write_atomic(&target, "trial: 1\n").is_err());
        assert_eq!(entries(dir.path()), ["best.yaml"]);
        assert!(target.is_dir());
        // A directory that does not exist: nothing is created.
        assert!(write_atomic(&dir.path().join("no/such/file"), "x").is_err());
        assert_eq!(entries(dir.path()), ["best.yaml"]);
    }
}
