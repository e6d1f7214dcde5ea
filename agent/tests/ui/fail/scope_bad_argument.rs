#[rtscope::scope(42)]
fn handler() {}

#[rtscope::scope(name = "x")]
fn other() {}

fn main() {
    handler();
    other();
}
