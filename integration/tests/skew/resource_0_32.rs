// The documented setup (docs/metrics.md, trace context) in an application on OpenTelemetry
// 0.32 while rtscope is on 0.33: the SDK's resource handed to rtscope does not compile.
fn main() {
    let resource = opentelemetry_sdk_0_32::Resource::builder()
        .with_service_name("checkout")
        .build();
    let _guard = rtscope::Agent::builder().with_resource(&resource).install();
}
