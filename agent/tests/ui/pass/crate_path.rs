// A renamed dependency: `crate = "..."` tells the expansion where rtscope is.
extern crate rtscope as scope;

#[scope::main(crate = "scope", export_interval_ms = 60000)]
fn main() {
    #![allow(unused_variables)]
    let unused = 1;
    assert!(scope::Agent::is_installed());
}
