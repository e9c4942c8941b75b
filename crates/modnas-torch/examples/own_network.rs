//! Searching the kernel size of one layer of your own tch network with DARTS.
//!
//! ```text
//! cargo run --release -p modnas-torch --example own_network
//! ```
//!
//! The network is plain `tch::nn`. Making it searchable takes the lines marked `NAS` and the two
//! settings lines after them (nine in all): the layer becomes a slot, the network is wrapped, and
//! a search runs with a few lines of settings.

use modnas_torch::backbones::from_fn;
use modnas_torch::slot::{Slot, SlotSet};
use tch::Tensor;
use tch::nn::{self, ModuleT};

#[derive(Debug)]
struct MyNet {
    conv1: nn::Conv2D,
    bn1: nn::BatchNorm,
    conv2: Slot,
    bn2: nn::BatchNorm,
    fc: nn::Linear,
}

impl MyNet {
    fn new(p: &nn::Path, slots: &SlotSet) -> MyNet {
        let conv = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        MyNet {
            conv1: nn::conv2d(p / "conv1", 1, 16, 3, conv),
            bn1: nn::batch_norm2d(p / "bn1", 16, Default::default()),
            // was: nn::conv2d(p / "conv2", 16, 32, 3, nn::ConvConfig { stride: 2, padding: 1, .. })
            conv2: slots.slot("conv2", 16, 32, 2), // NAS
            bn2: nn::batch_norm2d(p / "bn2", 32, Default::default()),
            fc: nn::linear(p / "fc", 32, 10, Default::default()),
        }
    }
}

impl ModuleT for MyNet {
    fn forward_t(&self, x: &Tensor, train: bool) -> Tensor {
        let h = x.apply(&self.conv1).apply_t(&self.bn1, train).relu();
        let h = h
            .apply_t(&self.conv2, train)
            .apply_t(&self.bn2, train)
            .relu();
        h.mean_dim(&[2i64, 3][..], false, h.kind()).apply(&self.fc)
    }
}

fn main() -> Result<(), String> {
    tracing_subscriber_init();
    let net = from_fn([1, 28, 28], 10, MyNet::new); // NAS
    let found = modnas_torch::routine::search(
        net,
        r#"      # NAS
        optim: DARTS                                        # NAS
        candidates: [NC3, NC5, NC7]                         # NAS
        data: {train_size: 2048, valid_size: 2048, test_size: 0}
        estim: {search: {type: SuperNet, args: {epochs: 2}}}
    "#,
    )?; // NAS
    println!("conv2: {}", found.arch["conv2"].as_str().unwrap_or("?")); // NAS
    println!(
        "validation accuracy of the supernet: {:.2}%",
        found.last["val_acc"]
    );
    Ok(())
}

/// Log lines (each epoch) to stderr.
fn tracing_subscriber_init() {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .try_init();
}
