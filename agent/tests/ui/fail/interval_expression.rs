#[rtscope::main(export_interval_ms = 10 * 1000)]
fn main() {}
