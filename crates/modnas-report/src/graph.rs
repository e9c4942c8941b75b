//! Architecture cells as pictures: a generic DAG (named nodes, edges labelled with operators)
//! drawn in layers (each node one layer right of its deepest input), and the detection of cells
//! in an assignment whose parameter names describe edges: NAS-Bench-201's `edge_<to>_<from>` and
//! the DARTS-style `…node<to>-from<from>` of `modnas-torch`'s DAG layers.

use crate::svg::esc;
use modnas_core::param::{Assignment, Domain, ParamSpace};
use std::collections::BTreeMap;
use std::fmt::Write;

/// A labelled edge.
#[derive(Clone, Debug, PartialEq)]
pub struct Edge {
    /// Index of the source node.
    pub from: usize,
    /// Index of the target node.
    pub to: usize,
    /// The operator (drawn on the edge).
    pub label: String,
}

/// A directed acyclic graph of named nodes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Cell {
    /// Node names.
    pub nodes: Vec<String>,
    /// The edges.
    pub edges: Vec<Edge>,
}

/// Operators that mean "no edge".
const NO_EDGE: [&str; 4] = ["none", "zero", "null", "noop"];

impl Cell {
    /// The layer of each node: 0 for nodes without inputs, else one more than the deepest input.
    /// Nodes on a cycle (not a DAG) are put after the others.
    pub fn layers(&self) -> Vec<usize> {
        let n = self.nodes.len();
        let mut layer = vec![0usize; n];
        let mut indeg = vec![0usize; n];
        for e in &self.edges {
            if e.from < n && e.to < n {
                indeg[e.to] += 1;
            }
        }
        let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
        let mut done = vec![false; n];
        while let Some(v) = ready.pop() {
            done[v] = true;
            for e in self.edges.iter().filter(|e| e.from == v && e.to < n) {
                layer[e.to] = layer[e.to].max(layer[v] + 1);
                indeg[e.to] -= 1;
                if indeg[e.to] == 0 {
                    ready.push(e.to);
                }
            }
        }
        let deepest = layer.iter().copied().max().unwrap_or(0);
        for (i, l) in layer.iter_mut().enumerate() {
            if !done[i] {
                *l = deepest + 1;
            }
        }
        layer
    }
}

/// Renders the cell: one `<g class="node">` per node and one `<path class="edge">` with its
/// label per edge.
pub fn cell_svg(title: &str, cell: &Cell) -> String {
    let layers = cell.layers();
    let n_layers = layers.iter().copied().max().map_or(1, |m| m + 1);
    let mut rows: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (i, l) in layers.iter().enumerate() {
        rows.entry(*l).or_default().push(i);
    }
    let tallest = rows.values().map(Vec::len).max().unwrap_or(1);
    // Room above for the arcs of edges that skip layers.
    let max_skip = cell
        .edges
        .iter()
        .filter(|e| e.from < layers.len() && e.to < layers.len())
        .map(|e| {
            layers[e.to]
                .saturating_sub(layers[e.from])
                .saturating_sub(1)
        })
        .max()
        .unwrap_or(0);
    let (gap_x, gap_y, mx) = (190.0, 90.0, 60.0);
    let mt = 40.0 + 28.0 * max_skip as f64;
    let width = mx * 2.0 + gap_x * (n_layers.max(2) - 1) as f64;
    let height = mt + 40.0 + gap_y * (tallest.max(1) - 1) as f64 + 30.0;
    let mut pos = vec![(0.0, 0.0); cell.nodes.len()];
    for (l, ids) in &rows {
        let off = (tallest - ids.len()) as f64 * gap_y / 2.0;
        for (k, &i) in ids.iter().enumerate() {
            pos[i] = (mx + gap_x * *l as f64, mt + 20.0 + off + gap_y * k as f64);
        }
    }
    let mut s = String::new();
    let _ = write!(
        s,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11" role="img" aria-label="{t}"><defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0 0L10 5L0 10z" fill="#555"/></marker></defs><rect width="{width}" height="{height}" fill="#ffffff"/><text x="12" y="20" font-size="14" font-weight="bold">{t}</text>"##,
        t = esc(title)
    );
    let r = 18.0;
    let mut labels = String::new();
    for e in &cell.edges {
        let (Some(&(x0, y0)), Some(&(x1, y1))) = (pos.get(e.from), pos.get(e.to)) else {
            continue;
        };
        // Edges that skip layers bow out so that they do not cross the nodes between.
        let skip = layers[e.to].saturating_sub(layers[e.from]).max(1) - 1;
        let bow = if skip > 0 {
            -(28.0 * skip as f64) * if y0 <= y1 { 1.0 } else { -1.0 }
        } else {
            0.0
        };
        let (dx, dy) = (x1 - x0, y1 - y0);
        let len = (dx * dx + dy * dy).sqrt().max(1e-9);
        let (sx, sy) = (x0 + dx / len * r, y0 + dy / len * r);
        let (ex, ey) = (x1 - dx / len * (r + 2.0), y1 - dy / len * (r + 2.0));
        let (cx, cy) = ((sx + ex) / 2.0, (sy + ey) / 2.0 + bow * 2.0);
        let _ = write!(
            s,
            r##"<path class="edge" data-from="{}" data-to="{}" d="M{sx:.1} {sy:.1}Q{cx:.1} {cy:.1} {ex:.1} {ey:.1}" fill="none" stroke="#555" stroke-width="1.4" marker-end="url(#arrow)"/>"##,
            e.from, e.to
        );
        if !e.label.is_empty() {
            // The curve's midpoint.
            let (lx, ly) = (
                0.25 * sx + 0.5 * cx + 0.25 * ex,
                0.25 * sy + 0.5 * cy + 0.25 * ey,
            );
            let _ = write!(
                labels,
                r##"<text class="op" x="{lx:.1}" y="{:.1}" text-anchor="middle" fill="#1f5fbf" stroke="#fff" stroke-width="3" paint-order="stroke">{}</text>"##,
                ly - 5.0,
                esc(&e.label)
            );
        }
    }
    for (i, name) in cell.nodes.iter().enumerate() {
        let (x, y) = pos[i];
        let _ = write!(
            s,
            r##"<g class="node"><circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="#eef3fb" stroke="#1f5fbf" stroke-width="1.5"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" font-weight="bold">{}</text></g>"##,
            y + 4.0,
            esc(name)
        );
    }
    s.push_str(&labels);
    s.push_str("</svg>");
    s
}

/// `(to, from, operator)` of one edge parameter.
type EdgeParam = (usize, usize, String);

/// `(group, to, from, concat)` of an edge parameter's name, if it names one; `concat` when the
/// cell's output concatenates all its intermediate nodes (DARTS).
fn edge_of(name: &str) -> Option<(String, usize, usize, bool)> {
    // DARTS-style: `<prefix>node<to>-from<from>`.
    if let Some(k) = name.rfind("node") {
        let rest = &name[k + 4..];
        if let Some((to, from)) = rest.split_once("-from")
            && let (Ok(to), Ok(from)) = (to.parse(), from.parse())
        {
            let prefix = name[..k].trim_end_matches(['-', '.', '_', '/']);
            return Some((prefix.to_string(), to, from, true));
        }
    }
    // NAS-Bench-201: `<prefix>edge_<to>_<from>`.
    if let Some(k) = name.rfind("edge_") {
        let rest = &name[k + 5..];
        if let Some((to, from)) = rest.split_once('_')
            && let (Ok(to), Ok(from)) = (to.parse(), from.parse())
        {
            let prefix = name[..k].trim_end_matches(['-', '.', '_', '/']);
            return Some((prefix.to_string(), to, from, false));
        }
    }
    None
}

/// The cells described by the categorical edge parameters of `a`, by group (the part of the
/// parameter names before the edge: e.g. `normal` and `reduce` cells). Edges whose operator is
/// `none`/`zero` are left out. Nodes without inputs are named `in<k>`. An `out` node collects
/// the intermediate nodes of a DARTS-style cell (which concatenates them) or the nodes without
/// outputs when there are several; a single node without outputs is itself `out`.
pub fn cells_of(space: &ParamSpace, a: &Assignment) -> Vec<(String, Cell)> {
    let mut groups: BTreeMap<String, (bool, Vec<EdgeParam>)> = BTreeMap::new();
    for (j, p) in space.params().iter().enumerate() {
        if !matches!(p.domain, Domain::Categorical { .. }) {
            continue;
        }
        let (Some((group, to, from, concat)), Some(v)) = (edge_of(&p.name), a.get(j)) else {
            continue;
        };
        if from >= to {
            continue;
        }
        let op = p.domain.render(v).to_string();
        let g = groups.entry(group).or_default();
        g.0 |= concat;
        g.1.push((to, from, op));
    }
    let mut out = Vec::new();
    for (group, (concat, edges)) in groups {
        let n = edges.iter().map(|e| e.0.max(e.1)).max().unwrap_or(0) + 1;
        let mut has_in = vec![false; n];
        let mut has_out = vec![false; n];
        let mut cell = Cell::default();
        for (to, from, op) in &edges {
            has_in[*to] = true;
            has_out[*from] = true;
            if !NO_EDGE.contains(&op.to_ascii_lowercase().as_str()) {
                cell.edges.push(Edge {
                    from: *from,
                    to: *to,
                    label: op.clone(),
                });
            }
        }
        let sinks: Vec<usize> = (0..n)
            .filter(|&i| has_in[i] && (concat || !has_out[i]))
            .collect();
        let mut k_in = 0;
        for (i, &fed) in has_in.iter().enumerate() {
            cell.nodes.push(if !fed {
                k_in += 1;
                format!("in{}", k_in - 1)
            } else if sinks == [i] && !concat {
                "out".into()
            } else {
                i.to_string()
            });
        }
        if sinks.len() > 1 || concat {
            cell.nodes.push("out".into());
            for &s in &sinks {
                cell.edges.push(Edge {
                    from: s,
                    to: n,
                    label: String::new(),
                });
            }
        }
        out.push((group, cell));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use modnas_core::param::{ParamValue, Value};

    fn ops() -> Domain {
        Domain::Categorical {
            choices: ["none", "skip_connect", "nor_conv_3x3"]
                .into_iter()
                .map(Value::from)
                .collect(),
        }
    }

    #[test]
    fn nb201_cell_from_edge_params() {
        let mut space = ParamSpace::new();
        let names = [
            "edge_1_0", "edge_2_0", "edge_2_1", "edge_3_0", "edge_3_1", "edge_3_2",
        ];
        for n in names {
            space.add(n, ops()).unwrap();
        }
        let a = Assignment(
            [2, 0, 1, 2, 2, 1]
                .into_iter()
                .map(ParamValue::Choice)
                .collect(),
        );
        let cells = cells_of(&space, &a);
        assert_eq!(cells.len(), 1);
        let cell = &cells[0].1;
        assert_eq!(cell.nodes, vec!["in0", "1", "2", "out"]);
        assert_eq!(cell.edges.len(), 5, "the `none` edge is left out");
        assert_eq!(cell.layers(), vec![0, 1, 2, 3]);
        let svg = cell_svg("best", cell);
        assert_eq!(svg.matches("<g class=\"node\">").count(), 4);
        assert_eq!(svg.matches("<path class=\"edge\"").count(), 5);
        assert_eq!(svg.matches(">nor_conv_3x3</text>").count(), 3);
        assert_eq!(svg.matches(">skip_connect</text>").count(), 2);
    }

    #[test]
    fn darts_cells_by_group_with_an_output_node() {
        let mut space = ParamSpace::new();
        for g in ["normal", "reduce"] {
            for to in 2..4 {
                for from in 0..to {
                    space
                        .add(&format!("{g}-node{to}-from{from}"), ops())
                        .unwrap();
                }
            }
        }
        space
            .add(
                "lr",
                Domain::Float {
                    low: 0.1,
                    high: 1.0,
                    log: false,
                },
            )
            .unwrap();
        let mut vals: Vec<ParamValue> = (0..10).map(|k| ParamValue::Choice(1 + k % 2)).collect();
        vals.push(ParamValue::Float(0.5));
        let cells = cells_of(&space, &Assignment(vals));
        assert_eq!(
            cells.iter().map(|c| c.0.as_str()).collect::<Vec<_>>(),
            vec!["normal", "reduce"]
        );
        let normal = &cells[0].1;
        assert_eq!(normal.nodes, vec!["in0", "in1", "2", "3", "out"]);
        // 5 operator edges, and the output concatenates both intermediate nodes.
        assert_eq!(
            normal.edges.iter().filter(|e| !e.label.is_empty()).count(),
            5
        );
        assert_eq!(
            normal.edges.iter().filter(|e| e.label.is_empty()).count(),
            2
        );
        assert_eq!(normal.layers(), vec![0, 0, 1, 2, 3]);
        assert_eq!(
            edge_of("cell0.reduce-node5-from3"),
            Some(("cell0.reduce".into(), 5, 3, true))
        );
        assert_eq!(edge_of("lr"), None);
    }

    #[test]
    fn cycles_do_not_hang() {
        let cell = Cell {
            nodes: vec!["a".into(), "b".into()],
            edges: vec![
                Edge {
                    from: 0,
                    to: 1,
                    label: "x".into(),
                },
                Edge {
                    from: 1,
                    to: 0,
                    label: "y".into(),
                },
            ],
        };
        assert_eq!(cell.layers(), vec![1, 1]);
        assert!(cell_svg("c", &cell).contains(">y</text>"));
    }
}
