#[rtscope::main]
async fn main() {}
