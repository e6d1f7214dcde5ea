#[rtscope::main(export_interval_ms = "10s")]
fn main() {}
