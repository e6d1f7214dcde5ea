//! TLS to a real collector: a test CA and certificates made here (the `openssl` CLI),
//! `stunnel4` terminating TLS on 127.0.0.1 in front of rotel, and `runtime_workload`
//! exporting through it with `OTEL_EXPORTER_OTLP_CERTIFICATE` / `_CLIENT_CERTIFICATE` /
//! `_CLIENT_KEY`: its pool counts must arrive exactly over HTTP and gRPC, with mutual TLS;
//! a wrong CA, an expired certificate, one for another host name, or no client certificate
//! where one is required, must each be refused with its own line naming what to fix, the
//! same over HTTP and gRPC, and nothing arrives.
#![cfg(unix)]

use rtscope_integration::{Collector, RunOutput, TempDir, run_bounded};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_runtime_workload");
/// Debian's name for stunnel 5, else the upstream one (`scripts/install-collector.sh`).
fn stunnel() -> &'static str {
    let found = |name: &str| {
        Command::new(name)
            .arg("-version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
    };
    if found("stunnel4") {
        "stunnel4"
    } else {
        "stunnel"
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl CLI");
    assert!(out.status.success(), "openssl {args:?}: {out:?}");
}

/// A CA (`<name>.pem`, `<name>.key`).
fn ca(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A key `<name>.key` and its certificate request `<name>.csr`.
fn request(dir: &Path, name: &str) {
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
}

/// A leaf `<name>.pem` / `<name>.key` signed by CA `ca`, with extensions `ext`.
fn leaf(dir: &Path, ca: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    request(dir, name);
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

/// A leaf as [`leaf`] makes, valid only on 2 January 2020 (`openssl ca`, which sets the
/// dates: OpenSSL 3.0's `x509 -req` has no start date).
fn expired_leaf(dir: &Path, ca: &str, name: &str, ext: &str) {
    std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
    std::fs::write(dir.join("index.txt"), "").unwrap();
    std::fs::write(dir.join("serial.txt"), "1000\n").unwrap();
    std::fs::write(
        dir.join("ca.cnf"),
        "[ca]\ndefault_ca = here\n[here]\ndatabase = index.txt\nnew_certs_dir = .\n\
         serial = serial.txt\ndefault_md = sha256\npolicy = any\n[any]\n\
         commonName = supplied\n",
    )
    .unwrap();
    request(dir, name);
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-notext",
            "-config",
            "ca.cnf",
            "-cert",
            &format!("{ca}.pem"),
            "-keyfile",
            &format!("{ca}.key"),
            "-startdate",
            "20200102000000Z",
            "-enddate",
            "20200103000000Z",
            "-extfile",
            &format!("{name}.ext"),
            "-in",
            &format!("{name}.csr"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// stunnel in the foreground, killed on drop; `(port, target, mutual, certificate)` per
/// service (the certificate's `<name>.pem` and `<name>.key`).
struct Stunnel(Child);

impl Stunnel {
    fn start(dir: &Path, services: &[(u16, SocketAddr, bool, &str)]) -> Stunnel {
        let mut conf = String::from("foreground = yes\npid =\ndebug = 4\n");
        for (i, (port, target, mutual, cert)) in services.iter().enumerate() {
            conf += &format!(
                "[s{i}]\naccept = 127.0.0.1:{port}\nconnect = {target}\ncert = {cert}.pem\n\
                 key = {cert}.key\n"
            );
            if *mutual {
                conf += "CAfile = ca.pem\nverifyChain = yes\nrequireCert = yes\n";
            }
        }
        std::fs::write(dir.join("stunnel.conf"), conf).unwrap();
        let child = Command::new(stunnel())
            .arg("stunnel.conf")
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("stunnel.log")).unwrap())
            .spawn()
            .expect("stunnel4 (scripts/install-collector.sh installs it)");
        let s = Stunnel(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        for (port, ..) in services {
            while TcpStream::connect(("127.0.0.1", *port)).is_err() {
                assert!(
                    Instant::now() < deadline,
                    "stunnel did not listen on {port}"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        s
    }
}

impl Drop for Stunnel {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

struct Setup {
    dir: TempDir,
    c: Collector,
    _stunnel: Stunnel,
    /// Server-only TLS in front of rotel's HTTP port; mutual TLS for HTTP and gRPC.
    http: u16,
    http_mutual: u16,
    grpc_mutual: u16,
    /// Server-only TLS with an expired certificate, and with one for another host name, in
    /// front of rotel's HTTP and gRPC ports: `(http, grpc)`.
    expired: (u16, u16),
    wrong_name: (u16, u16),
}

fn setup() -> Setup {
    let dir = TempDir::new("tls");
    let p = dir.path();
    ca(p, "ca");
    ca(p, "other");
    leaf(
        p,
        "ca",
        "server",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    );
    leaf(
        p,
        "ca",
        "client",
        "extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n",
    );
    expired_leaf(
        p,
        "ca",
        "expired",
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n",
    );
    leaf(
        p,
        "ca",
        "elsewhere",
        "subjectAltName=DNS:collector.example\nextendedKeyUsage=serverAuth\n\
         basicConstraints=CA:FALSE\n",
    );
    let c = Collector::start();
    let (http, http_mutual, grpc_mutual) = (free_port(), free_port(), free_port());
    let expired = (free_port(), free_port());
    let wrong_name = (free_port(), free_port());
    let stunnel = Stunnel::start(
        p,
        &[
            (http, c.http_addr(), false, "server"),
            (http_mutual, c.http_addr(), true, "server"),
            (grpc_mutual, c.grpc_addr(), true, "server"),
            (expired.0, c.http_addr(), false, "expired"),
            (expired.1, c.grpc_addr(), false, "expired"),
            (wrong_name.0, c.http_addr(), false, "elsewhere"),
            (wrong_name.1, c.grpc_addr(), false, "elsewhere"),
        ],
    );
    Setup {
        dir,
        c,
        _stunnel: stunnel,
        http,
        http_mutual,
        grpc_mutual,
        expired,
        wrong_name,
    }
}

impl Setup {
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn run(&self, protocol: &str, port: u16, env: &[(&str, PathBuf)]) -> RunOutput {
        let mut cmd = Command::new(BIN);
        cmd.env(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("https://127.0.0.1:{port}"),
        )
        .env("OTEL_EXPORTER_OTLP_PROTOCOL", protocol)
        .env("OTEL_METRIC_EXPORT_INTERVAL", "200")
        .env("RTSCOPE_SUMMARY", "off");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_bounded(cmd, Duration::from_secs(60)).unwrap();
        assert!(out.success() && out.stdout.contains("DONE"), "{out:?}");
        out
    }

    /// Whether the pool's 111 hits arrived (exactly that, never more), within `wait`.
    fn arrived(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let hits: Vec<_> = self
                .c
                .metric_points("rust.pool.gets")
                .into_iter()
                .filter(|p| p.attr_str("rust.pool.result") == Some("hit"))
                .filter_map(|p| p.as_i64())
                .collect();
            if hits.contains(&111) {
                assert_eq!(hits.iter().max(), Some(&111), "{hits:?}");
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn mutual(&self) -> Vec<(&'static str, PathBuf)> {
        vec![
            ("OTEL_EXPORTER_OTLP_CERTIFICATE", self.file("ca.pem")),
            (
                "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
                self.file("client.pem"),
            ),
            ("OTEL_EXPORTER_OTLP_CLIENT_KEY", self.file("client.key")),
        ]
    }
}

/// The lines of `out`'s stderr that mention `needle`.
fn lines_with<'a>(out: &'a RunOutput, needle: &str) -> Vec<&'a str> {
    out.stderr.lines().filter(|l| l.contains(needle)).collect()
}

#[test]
fn http_with_the_test_ca_arrives_exactly() {
    let s = setup();
    let out = s.run(
        "http/protobuf",
        s.http,
        &[("OTEL_EXPORTER_OTLP_CERTIFICATE", s.file("ca.pem"))],
    );
    assert!(s.arrived(Duration::from_secs(15)), "{out:?}");
}

#[test]
fn mutual_tls_over_http_and_grpc_arrives_exactly() {
    let s = setup();
    let out = s.run("http/protobuf", s.http_mutual, &s.mutual());
    assert!(s.arrived(Duration::from_secs(15)), "http: {out:?}");
    assert!(!out.stderr.contains("failed"), "{out:?}");

    let s = setup();
    // The metrics variants win over the generic ones (which name files that do not exist).
    let mut env: Vec<_> = s
        .mutual()
        .into_iter()
        .map(|(k, v)| (k, PathBuf::from(format!("{}.missing", v.display()))))
        .collect();
    env.extend(s.mutual().into_iter().map(|(k, v)| match k {
        "OTEL_EXPORTER_OTLP_CERTIFICATE" => ("OTEL_EXPORTER_OTLP_METRICS_CERTIFICATE", v),
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE" => {
            ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_CERTIFICATE", v)
        }
        _ => ("OTEL_EXPORTER_OTLP_METRICS_CLIENT_KEY", v),
    }));
    let out = s.run("grpc", s.grpc_mutual, &env);
    assert!(s.arrived(Duration::from_secs(15)), "grpc: {out:?}");
}

#[test]
fn a_wrong_ca_or_a_missing_client_certificate_is_refused_naming_the_variable() {
    let s = setup();
    for protocol in ["http/protobuf", "grpc"] {
        let port = if protocol == "grpc" {
            s.grpc_mutual
        } else {
            s.http_mutual
        };
        let mut env = s.mutual();
        env[0].1 = s.file("other.pem");
        let out = s.run(protocol, port, &env);
        let named = lines_with(&out, "OTEL_EXPORTER_OTLP_CERTIFICATE=");
        assert_eq!(named.len(), 1, "{protocol}: {out:?}");
        assert!(
            named[0].contains("not signed by a CA of")
                && named[0].contains("other.pem")
                && !named[0].contains('\u{1b}'),
            "{protocol}: {}",
            named[0]
        );
    }
    // No client certificate where the collector requires one: under TLS 1.3 the collector
    // says so after the handshake, which gRPC reported as "transport error" alone.
    for (protocol, port) in [("http/protobuf", s.http_mutual), ("grpc", s.grpc_mutual)] {
        let out = s.run(
            protocol,
            port,
            &[("OTEL_EXPORTER_OTLP_CERTIFICATE", s.file("ca.pem"))],
        );
        let told = lines_with(
            &out,
            "the collector asks for a client certificate: set \
             OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY",
        );
        assert_eq!(told.len(), 1, "{protocol}: {out:?}");
        eprintln!("{protocol}: {}", told[0]);
    }
    assert!(!s.arrived(Duration::from_millis(500)), "nothing may arrive");
}

#[test]
fn an_expired_certificate_or_one_for_another_name_is_told_as_such_over_http_and_grpc() {
    let s = setup();
    let ca = [("OTEL_EXPORTER_OTLP_CERTIFICATE", s.file("ca.pem"))];
    for protocol in ["http/protobuf", "grpc"] {
        let pick = |(http, grpc): (u16, u16)| if protocol == "grpc" { grpc } else { http };
        for (port, said) in [
            (
                pick(s.expired),
                [
                    "the collector's certificate expired at 2020-01-03 00:00:00 UTC",
                    "renew it on the collector",
                ],
            ),
            (
                pick(s.wrong_name),
                [
                    "the collector's certificate is for DnsName(\"collector.example\"), not \
                     127.0.0.1",
                    "put a name it holds in the endpoint URL",
                ],
            ),
        ] {
            let out = s.run(protocol, port, &ca);
            let failed = lines_with(&out, "failed:");
            assert_eq!(failed.len(), 1, "{protocol}: {out:?}");
            assert!(
                said.iter().all(|s| failed[0].contains(s)) && !failed[0].contains("not signed by"),
                "{protocol}: {}",
                failed[0]
            );
            eprintln!("{protocol}: {}", failed[0]);
        }
    }
    assert!(!s.arrived(Duration::from_millis(500)), "nothing may arrive");
}
