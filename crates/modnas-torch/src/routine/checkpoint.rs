//! Checkpoints of a network run, kept in step with its journal.
//!
//! After epoch N the run writes `checkpoints/epoch-N/` completely and durably (every file and the
//! directory fsynced, then renamed into place) **before** the journal records epoch N, and removes
//! older checkpoints only after that record is committed. So a crash at any point leaves the
//! checkpoint of the journal's last recorded epoch on disk, and resume never finds them
//! disagreeing: a checkpoint one epoch ahead of the journal is an epoch that is simply run again.

use crate::grad::ArchOptimizer;
use crate::model::Model;
use crate::train::Optimizer;
use std::fs::File;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The environment variable naming a crash point for the fault-injection tests: `STEP@N` aborts
/// the process at `STEP` while epoch `N` (counted from 1) is saved or recorded.
pub const CRASH_VAR: &str = "MODNAS_TEST_CRASH_AT";

/// Aborts the process if [`CRASH_VAR`] names this step of epoch `n` (a test hook).
pub fn crash_point(step: &str, n: usize) {
    if let Ok(v) = std::env::var(CRASH_VAR)
        && v == format!("{step}@{n}")
    {
        eprintln!("{CRASH_VAR}: crashing at {v}");
        std::process::abort();
    }
}

fn epoch_dir(dir: &Path, done: usize) -> PathBuf {
    dir.join(format!("epoch-{done}"))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> String {
    format!("cannot {what} {}: {e}", path.display())
}

/// Flushes a file, or a directory's entries (a rename inside it), to disk.
fn sync(path: &Path) -> Result<(), String> {
    File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("flush", path, e))
}

fn save_tensors(path: &Path, named: &[(String, Tensor)]) -> Result<(), String> {
    Tensor::save_multi(
        &named
            .iter()
            .map(|(n, t)| (n.as_str(), t))
            .collect::<Vec<_>>(),
        path,
    )
    .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Writes the checkpoint of `done` finished epochs to `dir/epoch-<done>/`, durably.
pub fn save(
    dir: &Path,
    model: &Model,
    weights: &Optimizer,
    optim: Option<&mut (dyn ArchOptimizer + 'static)>,
    done: usize,
) -> Result<(), String> {
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))?;
    let tmp = dir.join(format!(".epoch-{done}.tmp-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| io("remove", &tmp, e))?;
    }
    std::fs::create_dir(&tmp).map_err(|e| io("create", &tmp, e))?;
    let mut files = vec![tmp.join("weights.ot"), tmp.join("alphas.ot")];
    model
        .vs
        .save(&files[0])
        .map_err(|e| format!("cannot write {}: {e}", files[0].display()))?;
    model
        .arch_vs
        .save(&files[1])
        .map_err(|e| format!("cannot write {}: {e}", files[1].display()))?;
    crash_point("checkpoint-weights", done);
    let (named, t) = weights.state();
    files.push(tmp.join("weight_optimizer.ot"));
    save_tensors(&tmp.join("weight_optimizer.ot"), &named)?;
    let mut meta =
        serde_json::json!({"epochs_done": done, "weight_optimizer_steps": t, "lr": weights.lr()});
    if let Some(o) = optim {
        let extra = o.extra_state();
        let (named, t) = o.arch_optimizer().state();
        files.push(tmp.join("arch_optimizer.ot"));
        save_tensors(&tmp.join("arch_optimizer.ot"), &named)?;
        meta["arch_optimizer_steps"] = serde_json::json!(t);
        meta["arch_extra"] = extra;
    }
    let state = tmp.join("state.json");
    std::fs::write(&state, meta.to_string()).map_err(|e| io("write", &state, e))?;
    files.push(state);
    for f in &files {
        sync(f)?;
    }
    sync(&tmp)?;
    crash_point("checkpoint-files", done);
    let target = epoch_dir(dir, done);
    if target.exists() {
        // An epoch run again after a crash between its checkpoint and its journal record.
        std::fs::remove_dir_all(&target).map_err(|e| io("remove", &target, e))?;
    }
    std::fs::rename(&tmp, &target).map_err(|e| io("rename into place", &target, e))?;
    sync(dir)?;
    crash_point("checkpoint-renamed", done);
    Ok(())
}

/// Removes every checkpoint but the one of `done` epochs, leftovers of interrupted saves, and
/// checkpoints in the older single-directory layout, and points the link `last` at the one kept.
/// Called once epoch `done` is in the journal.
pub fn prune(dir: &Path, done: usize) -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let keep = format!("epoch-{done}");
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let link = e.file_type().is_ok_and(|t| t.is_symlink());
        let stale = (name.starts_with("epoch-") && name != keep)
            || name.starts_with(".epoch-")
            || name.starts_with(".last.tmp-")
            || (name == "last" && !link)
            || name == "tmp";
        if stale {
            let p = e.path();
            let r = if link || e.file_type().is_ok_and(|t| t.is_file()) {
                std::fs::remove_file(&p)
            } else {
                std::fs::remove_dir_all(&p)
            };
            r.map_err(|e| io("remove", &p, e))?;
        }
    }
    // `last` points at the newest checkpoint (a stable path for `init_from`), replaced atomically.
    let tmp = dir.join(format!(".last.tmp-{}", std::process::id()));
    std::os::unix::fs::symlink(&keep, &tmp).map_err(|e| io("create", &tmp, e))?;
    let last = dir.join("last");
    std::fs::rename(&tmp, &last).map_err(|e| io("rename into place", &last, e))?;
    sync(dir)
}

/// The epoch counts of the complete checkpoints in `dir`, ascending.
/// The epoch counts of the checkpoints in `dir`, ascending.
pub fn available(dir: &Path) -> Vec<usize> {
    let mut v: Vec<usize> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            e.file_name()
                .to_str()
                .and_then(|n| n.strip_prefix("epoch-"))
                .and_then(|n| n.parse().ok())
        })
        .collect();
    v.sort_unstable();
    v
}

fn legacy_epochs(d: &Path) -> Option<usize> {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("state.json")).ok()?).ok()?;
    meta["epochs_done"].as_u64().map(|n| n as usize)
}

/// Where the checkpoint of `done` epochs is: `epoch-<done>/`, or a directory of the older layout
/// (`last/`, or `tmp/` left complete by a crash during its rename) that holds as many epochs.
fn locate(dir: &Path, done: usize) -> Result<PathBuf, String> {
    let d = epoch_dir(dir, done);
    if d.join("state.json").exists() {
        return Ok(d);
    }
    for old in ["last", "tmp"] {
        let d = dir.join(old);
        if legacy_epochs(&d) == Some(done) {
            return Ok(d);
        }
    }
    let have = available(dir);
    Err(format!(
        "the journal records {done} epochs but {} holds no checkpoint of them ({}); the checkpoint files were removed or damaged: start over with --fresh",
        dir.display(),
        if have.is_empty() {
            "none at all".to_string()
        } else {
            format!(
                "only of {}",
                have.iter()
                    .map(|n| format!("epoch {n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    ))
}

/// Loads the checkpoint of `done` epochs into the model and optimizers.
pub fn load(
    dir: &Path,
    model: &mut Model,
    weights: &mut Optimizer,
    optim: Option<&mut (dyn ArchOptimizer + 'static)>,
    done: usize,
) -> Result<(), String> {
    let d = locate(dir, done)?;
    let state = d.join("state.json");
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&state).map_err(|e| io("read", &state, e))?)
            .map_err(|e| format!("{}: {e}", state.display()))?;
    if meta["epochs_done"].as_u64() != Some(done as u64) {
        return Err(format!(
            "{} holds {} epochs, not {done}",
            state.display(),
            meta["epochs_done"]
        ));
    }
    model
        .vs
        .load(d.join("weights.ot"))
        .map_err(|e| format!("weights: {e}"))?;
    model
        .arch_vs
        .load(d.join("alphas.ot"))
        .map_err(|e| format!("architecture parameters: {e}"))?;
    let named = Tensor::load_multi(d.join("weight_optimizer.ot")).map_err(|e| e.to_string())?;
    weights.load_state(&named, meta["weight_optimizer_steps"].as_i64().unwrap_or(0))?;
    if let Some(o) = optim
        && d.join("arch_optimizer.ot").exists()
    {
        let named = Tensor::load_multi(d.join("arch_optimizer.ot")).map_err(|e| e.to_string())?;
        o.arch_optimizer()
            .load_state(&named, meta["arch_optimizer_steps"].as_i64().unwrap_or(0))?;
        o.load_extra_state(&meta["arch_extra"]);
    }
    Ok(())
}

/// The weights file of a checkpoint directory (its newest epoch), of an epoch directory, or the
/// file itself.
pub fn weights_file(p: &Path) -> PathBuf {
    if p.is_dir() {
        match available(p).last() {
            Some(n) => p.join(format!("epoch-{n}")).join("weights.ot"),
            None => p.join("weights.ot"),
        }
    } else {
        p.to_path_buf()
    }
}
