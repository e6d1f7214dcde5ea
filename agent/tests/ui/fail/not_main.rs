#[rtscope::main]
fn start() {}

fn main() {
    start();
}
