#[rtscope::main(service_name = "")]
fn main() {}
