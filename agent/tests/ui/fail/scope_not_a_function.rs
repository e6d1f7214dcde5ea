#[rtscope::scope]
struct Handler;

fn main() {
    let _ = Handler;
}
