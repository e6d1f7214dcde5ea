#[rtscope::scope("")]
fn handler() {}

#[rtscope::scope("a", "b")]
fn twice() {}

fn main() {
    handler();
    twice();
}
