trait Handler {
    #[rtscope::scope]
    fn handle(&self);
}

fn main() {}
