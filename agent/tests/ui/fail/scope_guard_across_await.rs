// The guard form cannot be held across an `.await` in a future that must be `Send`: use
// `.in_scope("name")` or `#[rtscope::scope]` on the `async fn` instead.
fn require_send<F: std::future::Future + Send>(_: F) {}

async fn work() {}

fn main() {
    require_send(async {
        let _guard = rtscope::scope::Scope::new("held").enter();
        work().await;
    });
}
