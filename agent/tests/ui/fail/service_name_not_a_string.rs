#[rtscope::main(service_name = checkout)]
fn main() {}
