// `#[rtscope::scope]` on free functions, methods, generic and `impl Trait` functions, sync and
// async, with a renamed crate, next to `rtscope::scope` the function.
extern crate rtscope as renamed;

use rtscope::scope::Scope;
use std::fmt::Display;

fn current() -> Option<&'static str> {
    Scope::current().map(|s| s.name())
}

#[rtscope::scope]
fn plain() -> Option<&'static str> {
    #![allow(unused_variables)]
    let unused = 1;
    current()
}

#[rtscope::scope("generic")]
pub(crate) fn generic<T: Clone>(t: &T) -> (T, Option<&'static str>) {
    (t.clone(), current())
}

#[rtscope::scope("display")]
fn display(n: u32) -> impl Display {
    n
}

#[renamed::scope("renamed", crate = "renamed")]
fn renamed_crate() -> Option<&'static str> {
    current()
}

struct S(u32);

impl S {
    #[rtscope::scope]
    fn by_ref(&self) -> u32 {
        self.0
    }

    #[rtscope::scope("S::by_value")]
    fn by_value(self) -> (u32, Option<&'static str>) {
        (self.0, current())
    }

    #[rtscope::scope]
    async fn by_ref_async(&self) -> Result<u32, std::num::ParseIntError> {
        let n: u32 = "1".parse()?;
        Ok(self.0 + n)
    }
}

#[rtscope::scope]
async fn returns_impl() -> impl Display {
    "ok"
}

#[rtscope::scope]
async fn unit() {}

fn main() {
    assert_eq!(plain(), Some("plain"));
    assert_eq!(generic(&3u8), (3, Some("generic")));
    assert_eq!(display(4).to_string(), "4");
    assert_eq!(renamed_crate(), Some("renamed"));
    assert_eq!(S(1).by_ref(), 1);
    assert_eq!(S(2).by_value(), (2, Some("S::by_value")));
    // The function of the same name still works.
    assert_eq!(rtscope::scope("closure", || current()), Some("closure"));
    assert_eq!(current(), None);
    let _ = (S(3).by_ref_async(), returns_impl(), unit());
}
