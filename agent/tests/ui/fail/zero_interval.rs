#[rtscope::main(export_interval_ms = 0)]
fn main() {}
