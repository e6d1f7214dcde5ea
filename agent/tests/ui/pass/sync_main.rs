#[global_allocator]
static ALLOC: rtscope::Alloc = rtscope::Alloc::system();

struct CheckOnDrop;

impl Drop for CheckOnDrop {
    fn drop(&mut self) {
        // The body's locals drop before the agent's guard.
        assert!(rtscope::Agent::is_installed());
    }
}

#[rtscope::main]
fn main() {
    let _check = CheckOnDrop;
    assert!(rtscope::Agent::is_installed());
    // The attribute installed the agent before the body: a second install is refused.
    let again = rtscope::Agent::builder().install();
    assert!(matches!(
        again,
        Err(rtscope::InstallError::AlreadyInstalled(_))
    ));
    let v: Vec<u64> = (0..100).collect();
    assert_eq!(v.len(), 100);
}
