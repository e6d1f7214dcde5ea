// `exit` skips destructors; the agent's `atexit` handler flushes instead.
#[rtscope::main]
fn main() {
    std::process::exit(0);
}
