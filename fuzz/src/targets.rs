//! The fuzz targets: each takes arbitrary bytes and must never panic.
//!
//! Each `*_outcome` function also returns a short label of what happened (which error, or
//! which kind of success); the fuzzer keeps inputs that produce a label it has not seen yet,
//! a cheap stand-in for coverage feedback.

use modnas_bench::table::Table;
use modnas_core::config::{self, Node, NodeKind, yaml};
use modnas_core::param::ParamSpace;
use modnas_core::seed::rng_from_seed;
use std::cell::RefCell;

/// Parses `data` as a configuration file and, when it has a `space:`, builds and samples it.
pub fn config(data: &[u8]) {
    let _ = config_outcome(data);
}

/// Parses `data` as a table: the description YAML, a NUL byte, then the CSV text.
pub fn table(data: &[u8]) {
    let _ = table_outcome(data);
}

/// Parses `data` as a line printed by an external program.
pub fn external_output(data: &[u8]) {
    let _ = external_output_outcome(data);
}

/// A label for an error message: its first words, with digits and quoted names dropped, so
/// that the same error at another place or with another name counts as the same outcome.
fn label(prefix: &str, message: &str) -> String {
    let mut out = String::from(prefix);
    out.push(':');
    let mut in_quote = false;
    for c in message.chars().take(80) {
        match c {
            '`' => in_quote = !in_quote,
            _ if in_quote || c.is_ascii_digit() => {}
            _ => out.push(c),
        }
    }
    out
}

/// [`config()`], returning the outcome label.
pub fn config_outcome(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut node = match yaml::parse_str("fuzz.yaml", &text) {
        Ok(n) => n,
        Err(e) => return label("parse", &e.message),
    };
    if node.as_map().is_none() {
        return format!("non-map:{}", kind_name(&node));
    }
    // What is written back as YAML must read back as the same value. (Only for maps, what a
    // configuration is: a non-finite number becomes JSON null, and a document that is only
    // null reads as an empty map.)
    let json = node.to_json();
    let emitted = yaml::emit(&json);
    match yaml::parse_str("emitted.yaml", &emitted) {
        Ok(back) => assert_eq!(
            back.to_json(),
            json,
            "emitted YAML reads back differently:\n{emitted}"
        ),
        Err(e) => panic!("emitted YAML does not parse: {e}\n{emitted}"),
    }
    config::apply_routine(&mut node, "search", config::ROUTINES);
    if let Err(e) = config::apply_override(&mut node, "stop.max_trials=3") {
        return label("override", &e.message);
    }
    if let Err(e) = config::apply_defaults(&mut node) {
        return label("defaults", &e.message);
    }
    for key in ["optim", "estim"] {
        if let Some(n) = node.get(key)
            && let Err(e) = config::ComponentSpec::parse(n, key)
        {
            return label(key, &e.message);
        }
    }
    let Some(space) = node.get("space") else {
        return "ok:no-space".into();
    };
    match config::space_from_node(space, "space") {
        Ok(s) => {
            exercise_space(&s);
            format!("ok:space{}", s.len().min(4))
        }
        Err(e) => label("space", &e.message),
    }
}

fn kind_name(n: &Node) -> &'static str {
    match n.kind {
        NodeKind::Null => "null",
        NodeKind::Bool(_) => "bool",
        NodeKind::Int(_) => "int",
        NodeKind::Float(_) => "float",
        NodeKind::Str(_) => "str",
        NodeKind::Seq(_) => "seq",
        NodeKind::Map(_) => "map",
    }
}

/// Samples, encodes and indexes a space the way optimizers do.
pub fn exercise_space(space: &ParamSpace) {
    let mut rng = rng_from_seed(7);
    for _ in 0..4 {
        let a = space.sample(&mut rng);
        assert!(space.validate(&a).is_ok(), "a sample is outside its space");
        let _ = space.encode(&a);
        let _ = space.render(&a);
        let _ = space.to_json(&a);
        for (p, v) in space.params().iter().zip(a.values()) {
            let u = p.domain.to_unit(v);
            let back = p.domain.from_unit(u);
            assert!(p.domain.contains(&back), "from_unit left the domain");
            let _ = p.domain.digit_of(v);
        }
        if space.is_finite() {
            let _ = space.index_of(&a);
        }
    }
    if let Ok(n) = space.cardinality() {
        for i in [0, 1, n / 2, n.saturating_sub(1)] {
            if i < n
                && let Ok(a) = space.assignment_at(i)
            {
                assert!(space.validate(&a).is_ok(), "assignment_at left the space");
                assert_eq!(space.index_of(&a).ok(), Some(i), "index round trip");
            }
        }
    }
}

thread_local! {
    static TABLE_DIR: RefCell<Option<tempfile::TempDir>> = const { RefCell::new(None) };
}

/// [`table`], returning the outcome label.
pub fn table_outcome(data: &[u8]) -> String {
    let (desc, csv) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &[][..]),
    };
    TABLE_DIR.with(|d| {
        let mut d = d.borrow_mut();
        if d.is_none() {
            *d = tempfile::tempdir().ok();
        }
        let Some(dir) = d.as_ref() else {
            return "no-temp-dir".to_string();
        };
        let (csv_path, desc_path) = (dir.path().join("t.csv"), dir.path().join("t.yaml"));
        if std::fs::write(&csv_path, csv).is_err() || std::fs::write(&desc_path, desc).is_err() {
            return "write-failed".to_string();
        }
        match Table::load(&csv_path, &desc_path) {
            Err(e) => label(
                "table",
                &e.to_string().replace(&*dir.path().to_string_lossy(), ""),
            ),
            Ok(t) => {
                exercise_space(t.space());
                let mut rng = rng_from_seed(3);
                for _ in 0..4 {
                    let a = t.space().sample(&mut rng);
                    let _ = t.mean(&a);
                    let _ = t.run(&a, 0);
                    let _ = t.describe(&a);
                }
                for m in t.metric_names() {
                    for o in t.objectives() {
                        if let Some((a, _)) = t.best_mean(m, o.direction) {
                            assert!(t.runs(&a) > 0, "the best configuration has no runs");
                            assert!(
                                t.run(&a, 0).is_some(),
                                "the best configuration has no run 0"
                            );
                            let _ = t.describe(&a);
                        }
                    }
                }
                format!("ok:{}", t.configurations().min(3))
            }
        }
    })
}

/// [`external_output`], returning the outcome label.
pub fn external_output_outcome(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    match modnas_bench::external::parse_json_line(&text) {
        None => "none".into(),
        Some(v) => {
            let m = modnas_bench::external::metrics_from_json(&v);
            format!("metrics:{}", m.len().min(4))
        }
    }
}
