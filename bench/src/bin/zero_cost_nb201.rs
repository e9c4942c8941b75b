//! How well zero-cost proxies rank NAS-Bench-201 architectures: `N` architectures drawn
//! uniformly (seeded) from the table are built as `NB201` networks (16 channels, 5 cells per
//! stage, CIFAR-10 shape), scored untrained by SynFlow, parameter count and MACs, and each score
//! is compared with the table's seed-mean validation accuracy after 200 epochs by Kendall's τ-b
//! and Spearman's ρ. SynFlow is data-free, so no CIFAR image is needed.
//!
//! ```text
//! cargo run -p modnas-benchmarks --bin zero_cost_nb201 -- [--archs 1000] [--seed 0]
//! ```

use modnas_bench::table::Table;
use modnas_benchmarks::{int_arg, nb201};
use modnas_core::config::{ComponentSpec, yaml::parse_str};
use modnas_core::param::{Assignment, Domain, ParamValue};
use modnas_core::seed::Rng;
use modnas_torch::backbones::{
    BackboneContext, NB201_EDGES, NB201_OPS, NB201_TABLE_OPS, nb201_edge_name, registry,
};
use modnas_torch::candidates::proxies::synflow;
use modnas_torch::metrics::count;
use modnas_torch::model::{ArchDesc, Conversion, Model, ModelOptions};
use modnas_torch::ops::OpStyle;
use rand::SeedableRng;
use std::time::Instant;

/// The `NB201` description of a table assignment.
fn describe(table: &Table, a: &Assignment) -> Result<ArchDesc, String> {
    let mut desc = ArchDesc::new();
    for (to, from) in NB201_EDGES {
        let name = format!("edge_{to}_{from}");
        let space = table.space();
        let i = space
            .params()
            .iter()
            .position(|p| p.name == name)
            .ok_or_else(|| format!("the table has no parameter {name}"))?;
        let (Domain::Categorical { choices }, Some(ParamValue::Choice(c))) =
            (&space.params()[i].domain, a.get(i))
        else {
            return Err(format!("{name} is not categorical"));
        };
        let label = choices[*c].to_string();
        if label != NB201_TABLE_OPS[*c] {
            return Err(format!(
                "{name}: choice {c} is {label}, expected {}",
                NB201_TABLE_OPS[*c]
            ));
        }
        desc.insert(nb201_edge_name(to, from), NB201_OPS[*c].into());
    }
    Ok(desc)
}

/// Kendall's τ-b (ties in either variable allowed).
fn kendall_tau(x: &[f64], y: &[f64]) -> f64 {
    let (mut concordant, mut discordant, mut tx, mut ty) = (0f64, 0f64, 0f64, 0f64);
    for i in 0..x.len() {
        for j in i + 1..x.len() {
            let dx = (x[i] - x[j]).signum() * f64::from(x[i] != x[j]);
            let dy = (y[i] - y[j]).signum() * f64::from(y[i] != y[j]);
            match (dx == 0.0, dy == 0.0) {
                (true, true) => {}
                (true, false) => tx += 1.0,
                (false, true) => ty += 1.0,
                (false, false) if dx == dy => concordant += 1.0,
                (false, false) => discordant += 1.0,
            }
        }
    }
    (concordant - discordant)
        / ((concordant + discordant + tx) * (concordant + discordant + ty)).sqrt()
}

/// Ranks with ties averaged.
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut idx: Vec<usize> = (0..v.len()).collect();
    idx.sort_by(|&a, &b| v[a].total_cmp(&v[b]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && v[idx[j + 1]] == v[idx[i]] {
            j += 1;
        }
        for &k in &idx[i..=j] {
            r[k] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let n = int_arg(&args, "--archs", 1000).max(2) as usize;
    let seed = int_arg(&args, "--seed", 0) as u64;
    let table = match nb201() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    };
    let yaml = parse_str("zero-cost", "model: {type: NB201}").expect("valid YAML");
    let spec = ComponentSpec::parse(yaml.get("model").expect("model"), "model").expect("spec");
    let backbone = registry()
        .build(&spec, &BackboneContext)
        .expect("NB201 builds");
    tch::set_num_threads(2);
    let mut rng = Rng::seed_from_u64(seed);
    let (mut acc, mut syn, mut params, mut macs) = (vec![], vec![], vec![], vec![]);
    let started = Instant::now();
    let mut skipped = 0;
    while acc.len() < n {
        let a = table.space().sample(&mut rng);
        let Some(v) = table.mean_of(&a, "val_acc") else {
            skipped += 1;
            continue;
        };
        let desc = describe(&table, &a).unwrap_or_else(|e| {
            eprintln!("error: {e}");
            std::process::exit(1)
        });
        let build = || {
            Model::build(
                backbone.as_ref(),
                &ModelOptions {
                    conversion: Conversion::Fixed(desc.clone()),
                    style: OpStyle::default(),
                    seed: seed + acc.len() as u64,
                    device: tch::Device::Cpu,
                },
            )
            .expect("an NB201 architecture builds")
        };
        let m = build();
        let (c, _) = tch::no_grad(|| count(&m, m.input_shape));
        // No weight reaching the output (every path cut) is the lowest score.
        let s = synflow(m).unwrap_or(f64::NEG_INFINITY);
        acc.push(v);
        syn.push(s);
        params.push(c.params);
        macs.push(c.macs);
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{n} NAS-Bench-201 architectures (seed {seed}; {skipped} draws missing from the table), scored in {secs:.1} s ({:.1} ms each)",
        1e3 * secs / n as f64
    );
    println!("proxy       Kendall tau-b   Spearman rho   (vs seed-mean val_acc after 200 epochs)");
    for (name, v) in [("synflow", &syn), ("params", &params), ("macs", &macs)] {
        println!(
            "{name:<11} {:>13.3} {:>14.3}",
            kendall_tau(v, &acc),
            spearman(v, &acc)
        );
    }
    // How good is the architecture each proxy would pick among the top ones?
    let best_acc = acc.iter().copied().fold(f64::MIN, f64::max);
    for (name, v) in [("synflow", &syn), ("params", &params)] {
        let i = (0..n).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap_or(0);
        println!(
            "top-1 by {name}: val_acc {:.2} (best of the sample {best_acc:.2})",
            acc[i]
        );
    }
}
