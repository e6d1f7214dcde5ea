#[rtscope::main(service_name = "a", service_name = "b")]
fn main() {}
