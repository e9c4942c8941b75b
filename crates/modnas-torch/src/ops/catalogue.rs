//! The primitive catalogue, by the paper's short names.
//!
//! | name | meaning |
//! |---|---|
//! | `NIL` | zero (strided when the slot is) |
//! | `IDT` | identity; factorized reduce when strided; 1×1 conv when channels differ |
//! | `AVG`, `MAX` | 3×3 average / max pooling + BN |
//! | `AP{k}`, `MP{k}` | k×k average / max pooling + BN |
//! | `NC{k}` | k×k convolution |
//! | `SC{k}` | DARTS separable convolution (applied twice) |
//! | `SS{k}` | single depthwise-separable convolution |
//! | `DC{k}`, `DD{k}` | dilated (2 / 3) depthwise-separable convolution |
//! | `FC{k}` | factorized k×1 then 1×k convolution |
//! | `MB{k}E{e}` | MobileNetV2 inverted residual body, expansion e |
//! | `M3B{k}E{e}[H\|S\|SH]` | MobileNetV3 block: H = hard swish, S = squeeze-and-excitation |
//!
//! Kernel sizes are odd numbers from 1 to 13; expansions from 1 to 9.

use super::basic::{ChainBuilder, Identity, Pool, PoolKind, Zero};
use super::mobile::{InvertedResidual, MobileV3Block};
use super::{FactorizedReduce, Op, OpError, OpStyle};
use crate::layers::ConvOpts;
use crate::op::SlotSpec;
use tch::nn;

/// A parsed primitive name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Primitive {
    /// `NIL`.
    Zero,
    /// `IDT`.
    Identity,
    /// `AVG` / `AP{k}`.
    AvgPool(i64),
    /// `MAX` / `MP{k}`.
    MaxPool(i64),
    /// `NC{k}`.
    Conv(i64),
    /// `SC{k}`.
    SepConv(i64),
    /// `SS{k}`.
    SingleSep(i64),
    /// `DC{k}` (dilation 2) / `DD{k}` (dilation 3).
    DilConv(i64, i64),
    /// `FC{k}`.
    FacConv(i64),
    /// `MB{k}E{e}`.
    MobileV2(i64, i64),
    /// `M3B{k}E{e}` with hard swish, squeeze-and-excitation.
    MobileV3(i64, i64, bool, bool),
}

/// The forms of primitive names with their meaning (for `modnas list`).
pub const FORMS: &[(&str, &str)] = &[
    (
        "NIL",
        "zero (strided when the slot is); skipped by mixed operators",
    ),
    (
        "IDT",
        "identity; factorized reduce when strided; 1x1 conv when channels differ",
    ),
    ("AVG, MAX", "3x3 average / max pooling"),
    ("AP{k}, MP{k}", "kxk average / max pooling"),
    ("NC{k}", "kxk convolution"),
    ("SC{k}", "DARTS separable convolution (applied twice)"),
    ("SS{k}", "single depthwise-separable convolution"),
    (
        "DC{k}, DD{k}",
        "dilated (2 / 3) depthwise-separable convolution",
    ),
    ("FC{k}", "factorized kx1 then 1xk convolution"),
    ("MB{k}E{e}", "MobileNetV2 inverted residual, expansion e"),
    (
        "M3B{k}E{e}[H|S|SH]",
        "MobileNetV3 block: H hard swish, S squeeze-and-excitation",
    ),
    (
        "CHAIN{n}",
        "a layer: n slots in sequence, each searched over the other candidates (hierarchical spaces)",
    ),
    (
        "MULTI{c}X{n}",
        "a layer: c parallel chains of n slots, summed; each slot searched over the other candidates",
    ),
];

/// A layer candidate: `chains` parallel chains of `nodes` slots, their outputs summed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerCandidate {
    /// Parallel chains.
    pub chains: usize,
    /// Slots per chain.
    pub nodes: usize,
}

/// Parses a layer candidate name: `CHAIN{n}` or `MULTI{c}X{n}` (1 to 8 each).
pub fn parse_layer_name(name: &str) -> Option<LayerCandidate> {
    let small = |s: &str| s.parse::<usize>().ok().filter(|n| (1..=8).contains(n));
    if let Some(n) = name.strip_prefix("CHAIN") {
        return Some(LayerCandidate {
            chains: 1,
            nodes: small(n)?,
        });
    }
    let (c, n) = name.strip_prefix("MULTI")?.split_once('X')?;
    Some(LayerCandidate {
        chains: small(c)?,
        nodes: small(n)?,
    })
}

/// Valid names close in form to `name` (for "did you mean"): the catalogue's examples and every
/// prefix with `name`'s numbers (`NX5` → `NC5`, `SC5`, …).
pub fn near_names(name: &str) -> Vec<String> {
    let mut out: Vec<String> = CATALOGUE_EXAMPLES.iter().map(|s| s.to_string()).collect();
    if let Some(i) = name.find(|c: char| c.is_ascii_digit()) {
        let tail = &name[i..];
        for p in [
            "NC", "SC", "SS", "DC", "DD", "FC", "AP", "MP", "MB", "M3B", "CHAIN", "MULTI",
        ] {
            let n = format!("{p}{tail}");
            if is_candidate_name(&n) {
                out.push(n);
            }
        }
    }
    out
}

/// Whether `name` is a primitive or a layer candidate.
pub fn is_candidate_name(name: &str) -> bool {
    parse_name(name).is_some() || parse_layer_name(name).is_some()
}

/// Names covering every kind of primitive (used by tests and `modnas list`).
pub const CATALOGUE_EXAMPLES: &[&str] = &[
    "NIL", "IDT", "AVG", "MAX", "AP5", "MP5", "NC1", "NC3", "SC3", "SC5", "SS3", "DC3", "DC5",
    "DD3", "FC3", "FC7", "MB3E1", "MB3E3", "MB5E6", "MB7E6", "M3B3E3", "M3B5E6H", "M3B3E4S",
    "M3B5E6SH",
];

fn kernel(s: &str) -> Option<i64> {
    let k: i64 = s.parse().ok()?;
    ((1..=13).contains(&k) && k % 2 == 1).then_some(k)
}

/// Parses a primitive name.
pub fn parse_name(name: &str) -> Option<Primitive> {
    Some(match name {
        "NIL" => Primitive::Zero,
        "IDT" => Primitive::Identity,
        "AVG" => Primitive::AvgPool(3),
        "MAX" => Primitive::MaxPool(3),
        _ => {
            if let Some(rest) = name.strip_prefix("M3B") {
                let (k, rest) = rest.split_once('E')?;
                let digits = rest
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(rest.len());
                let e: i64 = rest[..digits].parse().ok()?;
                let flags = &rest[digits..];
                let (h, s) = match flags {
                    "" => (false, false),
                    "H" => (true, false),
                    "S" => (false, true),
                    "SH" | "HS" => (true, true),
                    _ => return None,
                };
                return ((1..=9).contains(&e)).then_some(Primitive::MobileV3(kernel(k)?, e, h, s));
            }
            if let Some(rest) = name.strip_prefix("MB") {
                let (k, e) = rest.split_once('E')?;
                let e: i64 = e.parse().ok()?;
                return ((1..=9).contains(&e)).then_some(Primitive::MobileV2(kernel(k)?, e));
            }
            let (prefix, k) = name.split_at(name.find(|c: char| c.is_ascii_digit())?);
            let k = kernel(k)?;
            match prefix {
                "AP" => Primitive::AvgPool(k),
                "MP" => Primitive::MaxPool(k),
                "NC" => Primitive::Conv(k),
                "SC" => Primitive::SepConv(k),
                "SS" => Primitive::SingleSep(k),
                "DC" => Primitive::DilConv(k, 2),
                "DD" => Primitive::DilConv(k, 3),
                "FC" => Primitive::FacConv(k),
                _ => return None,
            }
        }
    })
}

/// Whether `name` is the zero operation.
pub fn is_zero_name(name: &str) -> bool {
    name == "NIL"
}

fn unknown(name: &str) -> OpError {
    let candidates = near_names(name);
    let hint = modnas_core::suggest::did_you_mean(name, &candidates).map(|s| format!("; did you mean `{s}`?")).unwrap_or_else(|| {
        "; primitives are NIL, IDT, AVG, MAX, AP{k}, MP{k}, NC{k}, SC{k}, SS{k}, DC{k}, DD{k}, FC{k}, MB{k}E{e}, M3B{k}E{e}[H|S|SH] with odd k ≤ 13, and the layers CHAIN{n}, MULTI{c}X{n}".into()
    });
    OpError::Unknown {
        name: name.to_string(),
        hint,
    }
}

/// Builds primitive `name` for the slot `spec` under `p`.
pub fn build_primitive(
    p: &nn::Path,
    name: &str,
    spec: &SlotSpec,
    style: &OpStyle,
) -> Result<Box<dyn Op>, OpError> {
    let prim = parse_name(name).ok_or_else(|| unknown(name))?;
    // A slot may ask for its own arrangement (ResNet slots stand for conv + BN only).
    let slot_style;
    let style = match spec
        .kwargs
        .get("ops_order")
        .and_then(|v| serde_json::from_value::<super::OpsOrder>(v.clone()).ok())
    {
        Some(order) => {
            slot_style = OpStyle {
                ops_order: order,
                ..*style
            };
            &slot_style
        }
        None => style,
    };
    let (cin, cout, s) = (spec.chn_in, spec.chn_out, spec.stride);
    let shape_err = |reason: &str| OpError::Shape {
        name: name.to_string(),
        slot: spec.name.clone(),
        spec: spec.describe(),
        reason: reason.to_string(),
    };
    if cin <= 0 || cout <= 0 || s <= 0 {
        return Err(shape_err("channels and stride must be positive"));
    }
    let dw = |k: i64, stride: i64, dil: i64, c: i64| {
        (
            c,
            c,
            [k, k],
            ConvOpts {
                stride: [stride, stride],
                dilation: dil,
                groups: c,
                ..Default::default()
            },
        )
    };
    let pw = |ci: i64, co: i64| (ci, co, [1, 1], ConvOpts::default());
    Ok(match prim {
        Primitive::Zero => Box::new(Zero { cout, stride: s }),
        Primitive::Identity => {
            if s == 1 && cin == cout {
                Box::new(Identity)
            } else if s == 1 {
                Box::new(
                    ChainBuilder::new(p, *style)
                        .unit(&[pw(cin, cout)])
                        .finish("IDT"),
                )
            } else if s == 2 {
                Box::new(FactorizedReduce::new(p, cin, cout, style).map_err(|r| shape_err(&r))?)
            } else {
                return Err(shape_err("the identity can only reduce with stride 2"));
            }
        }
        Primitive::AvgPool(k) | Primitive::MaxPool(k) => {
            if cin != cout {
                return Err(shape_err(
                    "pooling keeps the number of channels, so it needs chn_in == chn_out",
                ));
            }
            let kind = if matches!(prim, Primitive::AvgPool(_)) {
                PoolKind::Avg
            } else {
                PoolKind::Max
            };
            Box::new(Pool::new(p, name, kind, k, s, cout, style, true))
        }
        Primitive::Conv(k) => {
            let groups = spec
                .kwargs
                .get("groups")
                .and_then(|g| g.as_i64())
                .unwrap_or(1)
                .max(1);
            if cin % groups != 0 || cout % groups != 0 {
                return Err(shape_err(&format!(
                    "{groups} groups must divide both channel counts"
                )));
            }
            Box::new(
                ChainBuilder::new(p, *style)
                    .unit(&[(
                        cin,
                        cout,
                        [k, k],
                        ConvOpts {
                            groups,
                            ..ConvOpts::stride(s)
                        },
                    )])
                    .finish(name),
            )
        }
        Primitive::SepConv(k) => Box::new(
            ChainBuilder::new(p, *style)
                .unit(&[dw(k, s, 1, cin), pw(cin, cin)])
                .unit(&[dw(k, 1, 1, cin), pw(cin, cout)])
                .finish(name),
        ),
        Primitive::SingleSep(k) => Box::new(
            ChainBuilder::new(p, *style)
                .unit(&[dw(k, s, 1, cin), pw(cin, cout)])
                .finish(name),
        ),
        Primitive::DilConv(k, d) => Box::new(
            ChainBuilder::new(p, *style)
                .unit(&[dw(k, s, d, cin), pw(cin, cout)])
                .finish(name),
        ),
        Primitive::FacConv(k) => Box::new(
            ChainBuilder::new(p, *style)
                .unit(&[
                    (
                        cin,
                        cin,
                        [1, k],
                        ConvOpts {
                            stride: [1, s],
                            padding: Some([0, k / 2]),
                            ..Default::default()
                        },
                    ),
                    (
                        cin,
                        cout,
                        [k, 1],
                        ConvOpts {
                            stride: [s, 1],
                            padding: Some([k / 2, 0]),
                            ..Default::default()
                        },
                    ),
                ])
                .finish(name),
        ),
        Primitive::MobileV2(k, e) => Box::new(InvertedResidual::new(p, name, cin, cout, s, k, e)),
        Primitive::MobileV3(k, e, h, se) => {
            Box::new(MobileV3Block::new(p, name, cin, cout, s, k, e, h, se))
        }
    })
}
