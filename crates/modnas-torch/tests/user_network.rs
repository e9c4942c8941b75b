//! A user's own `tch` network: searched through slots, and the errors a user can make with it.

use modnas_torch::backbones::from_fn;
use modnas_torch::routine::search;
use modnas_torch::slot::{Slot, SlotSet};
use tch::Tensor;
use tch::nn::{self, ModuleT};

#[derive(Debug)]
struct Net {
    stem: nn::Conv2D,
    body: Slot,
    fc: nn::Linear,
}

impl ModuleT for Net {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.stem).relu().apply_t(&self.body, train);
        h.mean_dim(&[2i64, 3][..], false, h.kind()).apply(&self.fc)
    }
}

fn net(p: &nn::Path, slots: &SlotSet) -> Net {
    Net {
        stem: nn::conv2d(
            p / "stem",
            1,
            4,
            3,
            nn::ConvConfig {
                padding: 1,
                ..Default::default()
            },
        ),
        body: slots.slot("body", 4, 8, 2),
        fc: nn::linear(p / "fc", 8, 4, Default::default()),
    }
}

const DATA: &str = "data: {dataset: synthetic, synthetic_size: 64, valid_size: 32, test_size: 0, batch_size: 16}\nthreads: 1\n";

#[test]
fn a_user_network_searches_its_slot() {
    let out = search(
        from_fn([1, 16, 16], 4, net),
        &format!("{DATA}optim: DARTS\ncandidates: [NC3, NC5, SC3]\nestim: {{s: {{type: SuperNet, args: {{epochs: 2}}}}}}"),
    )
    .expect("the search runs");
    assert_eq!(out.trials.len(), 2);
    let op = out.arch["body"].as_str().expect("the slot's operation");
    assert!(["NC3", "NC5", "SC3"].contains(&op), "{op}");
}

#[test]
fn a_slot_without_candidates_is_named_before_anything_runs() {
    let err = search(
        from_fn([1, 16, 16], 4, net),
        &format!("{DATA}optim: DARTS\nestim: {{s: {{type: SuperNet}}}}"),
    )
    .expect_err("no candidates");
    assert!(
        err.contains("slot `body`") && err.contains("candidates"),
        "{err}"
    );
}

#[test]
fn an_unconverted_slot_is_reported_by_its_set() {
    let slots = SlotSet::new();
    let _ = slots.slot("conv2", 16, 32, 1);
    let e = slots.check_converted().expect_err("never converted");
    assert_eq!(e.name, "conv2");
    assert!(
        e.to_string().contains("conv2") && e.to_string().contains("in=16 out=32 stride=1"),
        "{e}"
    );
}

#[test]
fn data_that_does_not_fit_the_network_is_an_error_not_a_crash() {
    let err = search(
        from_fn([1, 28, 28], 4, net),
        &format!("{DATA}optim: DARTS\ncandidates: [NC3, NC5]\nestim: {{s: {{type: SuperNet}}}}"),
    )
    .expect_err("16-pixel data for a 28-pixel network");
    assert!(
        err.contains("[1, 16, 16]") && err.contains("[1, 28, 28]"),
        "{err}"
    );
    let err = search(
        from_fn([1, 16, 16], 4, net),
        "optim: DARTS\ncandidates: [NC3, NX5]",
    )
    .expect_err("unknown primitive");
    assert!(
        err.contains("unknown primitive `NX5`") && err.contains("did you mean"),
        "{err}"
    );
}
