#[rtscope::main(service_name = "ui-async")]
async fn main() -> Result<(), std::num::ParseIntError> {
    assert!(rtscope::Agent::is_installed());
    let n: u64 = std::future::ready("5").await.parse()?;
    if n == 5 {
        return Ok(());
    }
    unreachable!()
}
