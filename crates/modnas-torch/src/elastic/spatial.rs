//! The elastic spatial group (paper App. D): a hidden feature map whose number of active channels
//! changes. The layers that produce it (fan-out: convolutions, depthwise convolutions, batch
//! norms) compute only the first channels, and the layers that read it (fan-in convolutions) read
//! only those. Which channels come first is decided by [`ElasticSpatial::rerank`], which permutes
//! the stored weights in place so that the most important channels lead (Once-for-All's channel
//! sorting); the network's function does not change.

use crate::layers::{BatchNorm, ChannelLimit, Conv};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// How channels are ordered before a narrower width takes the first ones.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rank {
    /// By the L1 norm of the weights that read each channel (the fan-in convolutions), as
    /// Once-for-All does.
    #[default]
    L1FanIn,
    /// By the L1 norm of the weights that produce each channel (the first fan-out convolution).
    L1FanOut,
    /// By |γ| of the first fan-out batch norm.
    BnGamma,
    /// Keep the stored order.
    None,
}

impl Rank {
    /// Every rank, by its YAML name.
    pub const NAMES: &'static [&'static str] = &["l1_fan_in", "l1_fan_out", "bn_gamma", "none"];
}

/// A tensor whose dimension `dim` runs over the group's channels.
#[derive(Debug)]
struct Member {
    t: Tensor,
    dim: i64,
}

/// One elastic hidden feature map.
#[derive(Debug)]
pub struct ElasticSpatial {
    max: i64,
    limit: ChannelLimit,
    rank: Rank,
    fan_out: Vec<Member>,
    fan_in: Vec<Member>,
    /// The fan-out convolution weights (dimension 0) for [`Rank::L1FanOut`].
    producers: Vec<Tensor>,
    /// The fan-out batch-norm scales for [`Rank::BnGamma`].
    gammas: Vec<Tensor>,
}

impl ElasticSpatial {
    /// A group of `max` channels, ordered by `rank`.
    pub fn new(max: i64, rank: Rank) -> Self {
        ElasticSpatial {
            max,
            limit: ChannelLimit::new(),
            rank,
            fan_out: Vec::new(),
            fan_in: Vec::new(),
            producers: Vec::new(),
            gammas: Vec::new(),
        }
    }

    /// The full number of channels.
    pub fn max(&self) -> i64 {
        self.max
    }

    fn check(&self, what: &str, n: i64) -> Result<(), String> {
        if n != self.max {
            return Err(format!(
                "{what} has {n} channels on the elastic side, the group has {}",
                self.max
            ));
        }
        Ok(())
    }

    /// A convolution that produces the feature map (a depthwise one both reads and produces it).
    pub fn fan_out_conv(&mut self, c: &mut Conv) -> Result<(), String> {
        self.check("a fan-out convolution", c.weight.size()[0])?;
        c.limit_out(&self.limit);
        self.fan_out.push(Member {
            t: c.weight.shallow_clone(),
            dim: 0,
        });
        if let Some(b) = &c.bias {
            self.fan_out.push(Member {
                t: b.shallow_clone(),
                dim: 0,
            });
        }
        if !c.is_depthwise() {
            self.producers.push(c.weight.shallow_clone());
        }
        Ok(())
    }

    /// A batch norm of the feature map.
    pub fn fan_out_bn(&mut self, bn: &mut BatchNorm) -> Result<(), String> {
        self.check("a batch norm", bn.running_mean.size()[0])?;
        bn.limit(&self.limit);
        for t in [&bn.running_mean, &bn.running_var] {
            self.fan_out.push(Member {
                t: t.shallow_clone(),
                dim: 0,
            });
        }
        for t in bn.weight.iter().chain(bn.bias.iter()) {
            self.fan_out.push(Member {
                t: t.shallow_clone(),
                dim: 0,
            });
        }
        if let Some(g) = &bn.weight {
            self.gammas.push(g.shallow_clone());
        }
        Ok(())
    }

    /// A convolution that reads the feature map.
    pub fn fan_in_conv(&mut self, c: &mut Conv) -> Result<(), String> {
        if c.is_depthwise() {
            return self.fan_out_conv(c);
        }
        self.check("a fan-in convolution", c.weight.size()[1])?;
        c.limit_in(&self.limit)?;
        self.fan_in.push(Member {
            t: c.weight.shallow_clone(),
            dim: 1,
        });
        Ok(())
    }

    /// Uses the first `w` channels (at least 1, at most all).
    pub fn set_width(&self, w: i64) {
        self.limit.set(w.clamp(1, self.max));
    }

    /// The active channels.
    pub fn width(&self) -> i64 {
        self.limit.of(self.max)
    }

    /// Each channel's importance by the group's rank; `None` for [`Rank::None`] or when the
    /// tensors it needs are missing.
    pub fn importance(&self) -> Option<Tensor> {
        let l1 = |t: &Tensor, dim: i64| {
            let dims: Vec<i64> = (0..t.dim() as i64).filter(|&d| d != dim).collect();
            t.abs().sum_dim_intlist(&dims[..], false, Kind::Double)
        };
        let sum = |v: Vec<Tensor>| v.into_iter().reduce(|a, b| a + b);
        tch::no_grad(|| match self.rank {
            Rank::None => None,
            Rank::L1FanIn => sum(self.fan_in.iter().map(|m| l1(&m.t, 1)).collect()),
            Rank::L1FanOut => sum(self.producers.iter().map(|t| l1(t, 0)).collect()),
            Rank::BnGamma => sum(self
                .gammas
                .iter()
                .map(|g| g.abs().to_kind(Kind::Double))
                .collect()),
        })
    }

    /// Reorders the channels, most important first: every member tensor is permuted in place
    /// along its channel dimension, so the full network computes the same function and narrower
    /// widths keep the most important channels. Returns whether anything moved. Optimizer state
    /// (momentum) is not permuted: start a new weight optimizer after a rerank.
    pub fn rerank(&self) -> bool {
        let Some(imp) = self.importance() else {
            return false;
        };
        let order = imp.argsort(0, true);
        let identity = Tensor::arange(self.max, (Kind::Int64, order.device()));
        if order.equal(&identity) {
            return false;
        }
        tch::no_grad(|| {
            for m in self.fan_out.iter().chain(&self.fan_in) {
                let idx = order.to_device(m.t.device());
                let permuted = m.t.index_select(m.dim, &idx);
                m.t.shallow_clone().copy_(&permuted);
            }
        });
        true
    }
}
