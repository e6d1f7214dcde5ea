use std::num::ParseIntError;

#[rtscope::main(service_name = "ui-test", export_interval_ms = 250)]
fn main() -> Result<(), ParseIntError> {
    let n: u32 = "7".parse()?;
    if n == 7 {
        return Ok(());
    }
    let _never: u32 = "not a number".parse()?;
    unreachable!()
}
