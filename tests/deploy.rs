//! `deploy/`: the example config, the Dockerfile, the Kubernetes manifests, the image policies,
//! the TUF mirror's client set-up and the systemd unit. Docker and Kubernetes cannot run here, so each file is parsed and the
//! fields that matter are checked against the server (its Config, routes and default port) and
//! against each other; the container's health check and the probes' paths are run against a
//! real server, and the systemd unit through `systemd-analyze verify`.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use arkivo_server::config::Config;
use serde::Deserialize;
use serde_json::Value;

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(file)
}

fn read(file: &str) -> String {
    std::fs::read_to_string(deploy(file)).unwrap_or_else(|e| panic!("deploy/{file}: {e}"))
}

/// Every document of a YAML file.
fn yaml_documents(file: &str) -> Vec<Value> {
    serde_norway::Deserializer::from_str(&read(file))
        .map(|doc| Value::deserialize(doc).unwrap_or_else(|e| panic!("deploy/{file}: {e}")))
        .collect()
}

/// The one document of `kind` among `docs`.
fn of_kind<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let mut found = docs.iter().filter(|d| d["kind"] == kind);
    let doc = found.next().unwrap_or_else(|| panic!("no {kind}"));
    assert!(found.next().is_none(), "more than one {kind}");
    doc
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("not a string: {v}"))
}

/// The port of a `host:port` listen address.
fn port_of(listen: &str) -> u16 {
    listen.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// `key = value` with a bare lowercase key: a field line of the example config.
fn field_of(line: &str) -> Option<&str> {
    let (key, _) = line.split_once(" = ")?;
    let bare = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    (!key.is_empty() && key.chars().all(bare)).then_some(key)
}

#[test]
fn config_example_lists_every_field_at_its_default() {
    let text = read("config.example.toml");
    let config: Config = toml::from_str(&text).unwrap();
    assert_eq!(
        config,
        Config::default(),
        "the values shown are the defaults"
    );
    // Every field is there once, set or commented out (`#field = ...`), and nothing else.
    let listed: Vec<&str> = text
        .lines()
        .filter_map(|l| field_of(l.strip_prefix('#').unwrap_or(l)))
        .collect();
    let fields: BTreeSet<String> = match serde_json::to_value(Config::default()).unwrap() {
        Value::Object(o) => o.keys().cloned().collect(),
        other => panic!("{other}"),
    };
    assert_eq!(
        listed
            .iter()
            .map(|f| f.to_string())
            .collect::<BTreeSet<_>>(),
        fields
    );
    assert_eq!(
        listed.len(),
        fields.len(),
        "a field is listed twice: {listed:?}"
    );
    // The commented-out examples are valid values for their fields.
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix('#') {
            Some(field) if field_of(field).is_some() => field,
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let all: Config = toml::from_str(&uncommented).unwrap();
    all.validate().unwrap();
}

/// The Dockerfile's instructions, continuation lines joined, comments dropped.
fn dockerfile() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let line = line.trim();
        if current.is_empty() && (line.is_empty() || line.starts_with('#')) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                let (instruction, args) = current.split_once(' ').unwrap();
                out.push((instruction.to_uppercase(), args.trim().to_owned()));
                current.clear();
            }
        }
    }
    out
}

/// The value following `flag` in an argument list.
fn flag<'a>(args: &'a [String], flag: &str) -> &'a str {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("no {flag} in {args:?}"));
    &args[at + 1]
}

#[test]
fn dockerfile_builds_a_slim_non_root_image_with_the_log_on_a_volume() {
    let all = dockerfile();
    let froms: Vec<usize> = (0..all.len()).filter(|&i| all[i].0 == "FROM").collect();
    assert_eq!(froms.len(), 2, "a builder and a runtime stage");
    let (builder, runtime) = (&all[froms[0]..froms[1]], &all[froms[1]..]);
    let get = |stage: &[(String, String)], instruction: &str| -> Vec<String> {
        let found: Vec<String> = stage
            .iter()
            .filter(|(i, _)| i == instruction)
            .map(|(_, a)| a.clone())
            .collect();
        assert!(!found.is_empty(), "no {instruction}");
        found
    };

    let base = &get(builder, "FROM")[0];
    assert!(
        base.starts_with("rust:") && base.ends_with(" AS builder"),
        "{base}"
    );
    let build = get(builder, "RUN").join("\n");
    assert!(build.contains("libclang-dev"), "bindgen needs libclang");
    assert!(build.contains("cargo build --release --locked --bin arkivo"));

    let image = &get(runtime, "FROM")[0];
    assert!(
        image.starts_with("debian:") && image.ends_with("-slim") || image.contains("distroless"),
        "a minimal runtime image: {image}"
    );
    let copies = get(runtime, "COPY");
    let binary = copies
        .iter()
        .find_map(|c| c.strip_prefix("--from=builder "))
        .expect("the binary comes from the builder")
        .split(' ')
        .nth(1)
        .unwrap();
    let entrypoint: Vec<String> = serde_json::from_str(&get(runtime, "ENTRYPOINT")[0]).unwrap();
    assert_eq!(entrypoint, [binary]);

    let user = &get(runtime, "USER")[0];
    let uid: u32 = user
        .split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric uid");
    assert_ne!(uid, 0, "not root");
    let volumes: Vec<String> = serde_json::from_str(&get(runtime, "VOLUME")[0]).unwrap();
    let cmd: Vec<String> = serde_json::from_str(&get(runtime, "CMD")[0]).unwrap();
    assert_eq!(cmd[0], "serve");
    let data_dir = flag(&cmd, "--data-dir");
    assert_eq!(volumes, [data_dir], "the log is on the volume");
    assert!(
        get(runtime, "RUN")
            .iter()
            .any(|r| r.contains(&format!("install -d -o {uid} -g {uid} -m 0700 {data_dir}"))),
        "the volume belongs to the image's user"
    );
    let config = flag(&cmd, "--config");
    assert!(
        copies.contains(&format!("deploy/config.example.toml {config}")),
        "{copies:?}"
    );
    let listen = flag(&cmd, "--listen");
    assert!(listen.starts_with("0.0.0.0:"));
    let port = port_of(listen);
    assert_eq!(port, port_of(&Config::default().listen));
    assert_eq!(get(runtime, "EXPOSE"), [port.to_string()]);
    let health = &get(runtime, "HEALTHCHECK")[0];
    assert!(
        health.contains(&format!("/dev/tcp/127.0.0.1/{port}")) && health.contains("GET /healthz "),
        "{health}"
    );
    assert!(
        read("Dockerfile.dockerignore")
            .lines()
            .any(|l| l == "**/*.pem"),
        "no key file enters the build context"
    );
}

#[test]
fn the_containers_health_check_passes_only_on_a_serving_server() {
    let dockerfile = dockerfile();
    let health = &dockerfile
        .iter()
        .find(|(i, _)| i == "HEALTHCHECK")
        .unwrap()
        .1;
    let check = health.split_once(" CMD ").unwrap().1;
    // Docker runs the shell form with /bin/sh -c; here against a test server's port.
    let run = |port: u16| {
        Command::new("sh")
            .arg("-c")
            .arg(check.replace("/3000 ", &format!("/{port} ")))
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
            .success()
    };
    let server = common::TestServer::start(&[]);
    assert!(run(server.port()));
    assert!(!run(common::free_port()));
}

#[test]
fn the_images_command_refuses_to_name_a_new_log_after_0_0_0_0() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = Command::new(env!("CARGO_BIN_EXE_arkivo"))
        .args(["serve", "--config"])
        .arg(deploy("config.example.toml"))
        .arg("--data-dir")
        .arg(&data)
        .args(["--listen", &format!("0.0.0.0:{}", common::free_port())])
        .env_remove("ARKIVO_HOSTNAME")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("a new log needs a hostname"), "{err}");
    assert!(!data.join("db").exists(), "nothing was created");
}

/// The Kubernetes manifests, by kind.
struct Kubernetes {
    docs: Vec<Value>,
    namespace: String,
}

fn kubernetes() -> Kubernetes {
    let kustomization = &yaml_documents("kubernetes/kustomization.yaml")[0];
    let resources: Vec<&str> = kustomization["resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    // Everything but the Secret's example is applied.
    let mut files: Vec<String> = std::fs::read_dir(deploy("kubernetes"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|f| f != "kustomization.yaml" && f != "secret.example.yaml")
        .collect();
    files.sort();
    let mut listed: Vec<String> = resources.iter().map(|r| r.to_string()).collect();
    listed.sort();
    assert_eq!(listed, files);
    let mut docs: Vec<Value> = resources
        .iter()
        .flat_map(|r| yaml_documents(&format!("kubernetes/{r}")))
        .collect();
    docs.extend(yaml_documents("kubernetes/secret.example.yaml"));
    for d in &docs {
        assert!(
            d["apiVersion"].is_string() && d["metadata"]["name"].is_string(),
            "{d}"
        );
    }
    Kubernetes {
        docs,
        namespace: str_of(&kustomization["namespace"]).to_owned(),
    }
}

impl Kubernetes {
    fn kind(&self, kind: &str) -> &Value {
        of_kind(&self.docs, kind)
    }

    /// The server's config, from the ConfigMap the StatefulSet mounts.
    fn config(&self) -> Config {
        let text = str_of(&self.kind("ConfigMap")["data"]["arkivo.toml"]);
        let config: Config = toml::from_str(text).unwrap();
        config.validate().unwrap();
        config
    }
}

fn mount<'a>(container: &'a Value, volume: &str) -> &'a str {
    let m = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["name"] == volume)
        .unwrap_or_else(|| panic!("{} does not mount {volume}", container["name"]));
    str_of(&m["mountPath"])
}

fn assert_restricted(container: &Value) {
    let sc = &container["securityContext"];
    let name = &container["name"];
    assert_eq!(sc["allowPrivilegeEscalation"], false, "{name}");
    assert_eq!(sc["readOnlyRootFilesystem"], true, "{name}");
    assert_eq!(
        sc["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "{name}"
    );
    for bound in ["requests", "limits"] {
        for resource in ["cpu", "memory"] {
            assert!(
                container["resources"][bound][resource].is_string(),
                "{name}: {bound}.{resource}"
            );
        }
    }
}

#[test]
fn kubernetes_manifests_agree_with_the_server_and_each_other() {
    let k8s = kubernetes();
    let config = k8s.config();
    let sts = k8s.kind("StatefulSet");
    assert_eq!(sts["spec"]["replicas"], 1, "one writer per log");
    let pod = &sts["spec"]["template"];
    let spec = &pod["spec"];
    let sc = &spec["securityContext"];
    assert_eq!(sc["runAsNonRoot"], true);
    let uid = sc["runAsUser"].as_u64().unwrap();
    assert_ne!(uid, 0);
    assert!(
        read("Dockerfile").contains(&format!("USER {uid}:{uid}")),
        "the pod runs as the image's user"
    );
    assert_eq!(
        sc["fsGroup"], uid,
        "the data volume is writable by the server"
    );
    let containers = spec["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let server = &containers[0];
    assert_restricted(server);

    // The config file is the ConfigMap, found through ARKIVO_CONFIG (by `kubectl exec` too).
    let env = |name: &str| {
        server["env"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .map(|e| str_of(&e["value"]).to_owned())
    };
    assert_eq!(server["args"], serde_json::json!(["serve"]));
    let config_mount = mount(server, "config");
    assert_eq!(
        env("ARKIVO_CONFIG").as_deref(),
        Some(format!("{config_mount}/arkivo.toml").as_str())
    );
    assert_eq!(env("ARKIVO_LOG_FORMAT").as_deref(), Some("json"));
    let volumes = spec["volumes"].as_array().unwrap();
    let volume = |name: &str| volumes.iter().find(|v| v["name"] == name).unwrap();
    assert_eq!(
        volume("config")["configMap"]["name"],
        k8s.kind("ConfigMap")["metadata"]["name"]
    );

    // The log is on the PersistentVolumeClaim.
    let claim = &sts["spec"]["volumeClaimTemplates"][0];
    assert_eq!(
        claim["spec"]["accessModes"],
        serde_json::json!(["ReadWriteOnce"])
    );
    assert_eq!(
        Path::new(mount(server, str_of(&claim["metadata"]["name"]))),
        config.data_dir
    );

    // The port: the config's listen port, named http, behind the Service and the probes.
    let port = port_of(&config.listen);
    assert_eq!(port, port_of(&Config::default().listen));
    assert_eq!(
        server["ports"],
        serde_json::json!([{"name": "http", "containerPort": port, "protocol": "TCP"}])
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        assert_eq!(server[probe]["httpGet"]["path"], path, "{probe}");
        assert_eq!(server[probe]["httpGet"]["port"], "http", "{probe}");
    }
    let annotations = &pod["metadata"]["annotations"];
    assert_eq!(annotations["prometheus.io/port"], port.to_string());
    assert_eq!(annotations["prometheus.io/path"], "/metrics");
    let labels = &pod["metadata"]["labels"];
    assert_eq!(sts["spec"]["selector"]["matchLabels"], *labels);
    let services: Vec<&Value> = k8s.docs.iter().filter(|d| d["kind"] == "Service").collect();
    assert!(
        services
            .iter()
            .any(|s| s["metadata"]["name"] == sts["spec"]["serviceName"]
                && s["spec"]["clusterIP"] == "None"),
        "the StatefulSet's headless Service"
    );
    for s in services {
        assert_eq!(s["spec"]["selector"], *labels);
        assert_eq!(s["spec"]["ports"][0]["targetPort"], "http");
    }

    // The keys: the init container copies them from the Secret, mode 0600, into the in-memory
    // volume the server reads them from, as the config says.
    let keys_dir = mount(server, "keys");
    let key_files: Vec<&str> = [&config.ecdsa_key_file, &config.ed25519_key_file]
        .map(|k| {
            let k = k.as_deref().expect("the keys come from the Secret");
            assert_eq!(k.parent().unwrap(), Path::new(keys_dir));
            k.file_name().unwrap().to_str().unwrap()
        })
        .to_vec();
    assert_eq!(volume("keys")["emptyDir"]["medium"], "Memory");
    let secret = k8s.kind("Secret");
    let secret_volume = &volume("keys-secret")["secret"];
    assert_eq!(secret_volume["secretName"], secret["metadata"]["name"]);
    let mode = secret_volume["defaultMode"].as_u64().unwrap();
    assert_eq!(mode & 0o007, 0, "others cannot read the keys");
    let secret_keys: BTreeSet<&str> = secret["stringData"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(secret_keys, key_files.iter().copied().collect());
    let init = &spec["initContainers"][0];
    assert_restricted(init);
    assert_eq!(init["image"], server["image"]);
    let secret_dir = mount(init, "keys-secret");
    let mut install = vec!["install", "-m", "0600", "-t", mount(init, "keys")];
    let sources: Vec<String> = key_files
        .iter()
        .map(|f| format!("{secret_dir}/{f}"))
        .collect();
    install.extend(sources.iter().map(String::as_str));
    assert_eq!(init["command"], serde_json::json!(install));
    assert_eq!(mount(init, "keys"), keys_dir);
    assert!(
        server["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["name"] != "keys-secret"),
        "the server reads the 0600 copies, not the Secret"
    );
    assert_eq!(
        k8s.kind("Namespace")["metadata"]["name"],
        k8s.namespace.as_str()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_probes_and_the_scrape_path_answer_on_a_real_server() {
    let k8s = kubernetes();
    let pod = &k8s.kind("StatefulSet")["spec"]["template"];
    let server = &pod["spec"]["containers"][0];
    let paths = [
        str_of(&server["livenessProbe"]["httpGet"]["path"]),
        str_of(&server["readinessProbe"]["httpGet"]["path"]),
        str_of(&pod["metadata"]["annotations"]["prometheus.io/path"]),
    ];
    let running = common::TestServer::start(&[]);
    for path in paths {
        let res = reqwest::get(format!("{}{path}", running.base_url()))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{path}");
    }
}

#[test]
fn image_policies_admit_only_images_logged_in_this_log() {
    let k8s = kubernetes();
    let url = k8s.config().public_url.expect("the log's public URL");
    let image =
        str_of(&k8s.kind("StatefulSet")["spec"]["template"]["spec"]["containers"][0]["image"]);
    let registry = image.split('/').next().unwrap();
    let pem = |v: &Value| {
        let text = str_of(v).to_owned();
        assert!(
            text.starts_with("-----BEGIN PUBLIC KEY-----\n")
                && text.ends_with("\n-----END PUBLIC KEY-----"),
            "{text}"
        );
        text
    };

    let kyverno = yaml_documents("policies/kyverno-clusterpolicy.yaml");
    let policy = of_kind(&kyverno, "ClusterPolicy");
    assert_eq!(policy["apiVersion"], "kyverno.io/v1");
    assert_eq!(policy["spec"]["validationFailureAction"], "Enforce");
    let rule = &policy["spec"]["rules"][0];
    assert_eq!(
        rule["exclude"]["any"][0]["resources"]["namespaces"],
        serde_json::json!([k8s.namespace]),
        "the log can start while it is down"
    );
    let verify = &rule["verifyImages"][0];
    assert_eq!(
        verify["imageReferences"],
        serde_json::json!([format!("{registry}/*")])
    );
    assert_eq!(verify["required"], true);
    assert_eq!(verify["verifyDigest"], true);
    let keys = &verify["attestors"][0]["entries"][0]["keys"];
    assert_eq!(keys["rekor"]["url"], url.as_str());
    assert!(keys["rekor"]["ignoreTlog"].is_null(), "the log is checked");
    let log_key = pem(&keys["rekor"]["pubkey"]);
    let ci_key = pem(&keys["publicKeys"]);
    assert!(log_key.contains("LOG KEY") && ci_key.contains("CI SIGNING KEY"));
    assert_eq!(keys["ctlog"]["ignoreSCT"], true, "no certificates, no SCTs");

    let sigstore = yaml_documents("policies/sigstore-clusterimagepolicy.yaml");
    let cip = of_kind(&sigstore, "ClusterImagePolicy");
    assert_eq!(cip["apiVersion"], "policy.sigstore.dev/v1beta1");
    assert_eq!(cip["spec"]["mode"], "enforce");
    assert_eq!(
        cip["spec"]["images"],
        serde_json::json!([{"glob": format!("{registry}/**")}])
    );
    let authorities = cip["spec"]["authorities"].as_array().unwrap();
    assert_eq!(authorities.len(), 1);
    let authority = &authorities[0];
    assert_eq!(pem(&authority["key"]["data"]), ci_key, "the same CI key");
    assert_eq!(authority["ctlog"]["url"], url.as_str());
    let trust_root = of_kind(&sigstore, "TrustRoot");
    assert_eq!(
        authority["ctlog"]["trustRootRef"],
        trust_root["metadata"]["name"]
    );
    let keys = &trust_root["spec"]["sigstoreKeys"];
    assert_eq!(keys["certificateAuthorities"], serde_json::json!([]));
    let tlogs = keys["tLogs"].as_array().unwrap();
    assert_eq!(tlogs.len(), 1, "only this log");
    assert_eq!(tlogs[0]["baseURL"], url.as_str());
    assert_eq!(tlogs[0]["hashAlgorithm"], "sha-256");
    assert!(str_of(&tlogs[0]["publicKey"]).contains("BASE64_OF_THE_LOG_KEY"));
}

/// The `[Service]` settings of the systemd unit.
fn unit_settings() -> Vec<(String, String)> {
    let text = read("arkivo.service");
    let service = text
        .split("[Service]")
        .nth(1)
        .unwrap()
        .split("\n[")
        .next()
        .unwrap();
    service
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn the_systemd_unit_is_hardened_and_valid() {
    let settings = unit_settings();
    let get = |key: &str| {
        let found: Vec<&str> = settings
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .collect();
        found.join(" ")
    };
    for (key, value) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("RestrictSUIDSGID", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("UMask", "0077"),
        ("StateDirectoryMode", "0700"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(get(key), value, "{key}");
    }
    let user = get("User");
    assert!(!user.is_empty() && user != "root" || get("DynamicUser") == "yes");
    let exec: Vec<String> = get("ExecStart").split(' ').map(str::to_owned).collect();
    assert_eq!(exec[1], "serve");
    assert_eq!(
        flag(&exec, "--data-dir"),
        format!("/var/lib/{}", get("StateDirectory")),
        "the log is in the state directory, the only place it may write"
    );
    assert!(
        flag(&exec, "--config").starts_with(&format!("/etc/{}/", get("ConfigurationDirectory")))
    );
    // Longer than the server's 30 s drain.
    assert!(get("TimeoutStopSec").parse::<u64>().unwrap() > 30);

    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("arkivo.service");
    std::fs::write(
        &unit,
        read("arkivo.service").replace(&exec[0], env!("CARGO_BIN_EXE_arkivo")),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/setup installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The keyless policies (Kyverno keyless attestor; policy-controller keyless authority and its
/// TrustRoot) name what a real server with a CA serves: the CA at the log's public URL, its chain
/// (intermediate then root) and the intermediate's subject as the server names it, the log, and
/// the CA's CT log, whose SCTs are checked (never waived).
#[tokio::test(flavor = "multi_thread")]
async fn keyless_image_policies_match_the_served_trust_material() {
    use der::Decode;
    let k8s = kubernetes();
    let config = k8s.config();
    let url = config.public_url.clone().expect("the log's public URL");
    let hostname = config.hostname.clone().expect("the log's hostname");

    let issuer = common::oidc::TestIssuer::start(false);
    let running = common::TestServer::start(&["--oidc-issuer", &issuer.url("email")]);
    let served: Value = reqwest::get(format!("{}/api/v1/log/trustedRoot", running.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cas = served["certificateAuthorities"].as_array().unwrap();
    assert_eq!(cas.len(), 1);
    assert_eq!(
        cas[0]["uri"],
        running.base_url(),
        "the CA is at the log's URL"
    );
    let chain: Vec<x509_cert::Certificate> = cas[0]["certChain"]["certificates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            use base64::Engine;
            let der = base64::engine::general_purpose::STANDARD
                .decode(str_of(&c["rawBytes"]))
                .unwrap();
            x509_cert::Certificate::from_der(&der).unwrap()
        })
        .collect();
    assert_eq!(chain.len(), 2, "intermediate, root");
    let served_subject = chain[0].tbs_certificate.subject.to_string();
    let served_host = running.base_url().trim_start_matches("http://").to_owned();
    assert!(
        served_subject.contains(&format!("O={served_host}"))
            && served_subject.contains(&format!("CN={served_host} intermediate")),
        "{served_subject}"
    );
    let ctlogs = served["ctlogs"].as_array().unwrap();
    assert_eq!(ctlogs.len(), 1, "the CA's CT log");
    assert_eq!(
        ctlogs[0]["baseUrl"],
        format!("{}/ct", running.base_url()),
        "the CT log under the log's URL"
    );
    assert_eq!(served["tlogs"][0]["hashAlgorithm"], "SHA2_256");

    let kyverno = yaml_documents("policies/kyverno-keyless-clusterpolicy.yaml");
    let policy = of_kind(&kyverno, "ClusterPolicy");
    assert_eq!(policy["spec"]["validationFailureAction"], "Enforce");
    let rule = &policy["spec"]["rules"][0];
    assert_eq!(
        rule["exclude"]["any"][0]["resources"]["namespaces"],
        serde_json::json!([k8s.namespace])
    );
    let verify = &rule["verifyImages"][0];
    assert_eq!(
        (&verify["required"], &verify["verifyDigest"]),
        (&true.into(), &true.into())
    );
    let keyless = &verify["attestors"][0]["entries"][0]["keyless"];
    let roots = str_of(&keyless["roots"]);
    assert_eq!(
        roots.matches("-----BEGIN CERTIFICATE-----").count(),
        chain.len()
    );
    assert_eq!(keyless["rekor"]["url"], url.as_str());
    assert!(str_of(&keyless["rekor"]["pubkey"]).starts_with("-----BEGIN PUBLIC KEY-----"));
    assert!(keyless["ctlog"]["ignoreSCT"].is_null(), "SCTs are checked");
    assert!(str_of(&keyless["ctlog"]["pubkey"]).contains("CT LOG KEY"));
    let (subject, oidc_issuer) = (str_of(&keyless["subject"]), str_of(&keyless["issuer"]));

    let sigstore = yaml_documents("policies/sigstore-keyless-clusterimagepolicy.yaml");
    let cip = of_kind(&sigstore, "ClusterImagePolicy");
    assert_eq!(cip["spec"]["mode"], "enforce");
    let authority = &cip["spec"]["authorities"][0];
    let trust_root = of_kind(&sigstore, "TrustRoot");
    let name = &trust_root["metadata"]["name"];
    assert_eq!(authority["keyless"]["url"], url.as_str());
    assert_eq!(&authority["keyless"]["trustRootRef"], name);
    assert!(
        authority["keyless"]["insecureIgnoreSCT"].is_null(),
        "SCTs are checked"
    );
    assert_eq!(
        authority["keyless"]["identities"],
        serde_json::json!([{"issuer": oidc_issuer, "subject": subject}]),
        "the same identity as the Kyverno policy"
    );
    assert_eq!(authority["ctlog"]["url"], url.as_str());
    assert_eq!(&authority["ctlog"]["trustRootRef"], name);
    let keys = &trust_root["spec"]["sigstoreKeys"];
    let ca = &keys["certificateAuthorities"][0];
    assert_eq!(
        keys["certificateAuthorities"].as_array().unwrap().len(),
        cas.len()
    );
    assert_eq!(ca["uri"], url.as_str());
    assert_eq!(ca["subject"]["organization"], hostname.as_str());
    assert_eq!(
        ca["subject"]["commonName"],
        format!("{hostname} intermediate")
    );
    assert!(str_of(&ca["certChain"]).contains("BASE64_OF_THE_CA_CHAIN"));
    let tlogs = keys["tLogs"].as_array().unwrap();
    // The Rekor v1 log (its ECDSA key); the Ed25519 checkpoint key is Rekor v2 clients'.
    let v1_logs = served["tlogs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["publicKey"]["keyDetails"] == "PKIX_ECDSA_P256_SHA_256")
        .count();
    assert_eq!(tlogs.len(), v1_logs);
    assert_eq!(tlogs[0]["baseURL"], url.as_str());
    assert_eq!(tlogs[0]["hashAlgorithm"], "sha-256");
    let ct = keys["ctLogs"].as_array().unwrap();
    assert_eq!(ct.len(), ctlogs.len(), "CT logs listed as served");
    assert_eq!(ct[0]["baseURL"], format!("{url}/ct"));
    assert_eq!(ct[0]["hashAlgorithm"], "sha-256");
    assert!(str_of(&ct[0]["publicKey"]).contains("BASE64_OF_THE_CT_LOG_KEY"));
}

/// `deploy/tuf/`: the cosign script, the policy-controller TrustRoot and the Kyverno values
/// point at `/tuf` on the log's public URL and take its first root version. cosign cannot run
/// here: the script runs against a real server with a `cosign` on its PATH that records what it
/// is given; python-tuf — the TUF client sigstore-python uses — then bootstraps from that mirror
/// and that root and downloads the trusted root the other clients read.
#[tokio::test(flavor = "multi_thread")]
async fn tuf_mirror_files_point_at_the_served_repository() {
    let url = kubernetes()
        .config()
        .public_url
        .expect("the log's public URL");
    let mirror = format!("{url}/tuf");

    let docs = yaml_documents("tuf/policy-controller-trustroot.yaml");
    let trust_root = of_kind(&docs, "TrustRoot");
    assert_eq!(trust_root["apiVersion"], "policy.sigstore.dev/v1alpha1");
    let remote = &trust_root["spec"]["remote"];
    assert_eq!(remote["mirror"], mirror.as_str());
    assert!(str_of(&remote["root"]).contains("BASE64_OF_1.root.json"));
    assert!(
        trust_root["spec"]["sigstoreKeys"].is_null(),
        "keys from the mirror only"
    );
    let values = yaml_documents("tuf/kyverno-values.yaml");
    let kyverno = &values[0]["features"]["tuf"];
    assert_eq!(kyverno["enabled"], true);
    assert_eq!(kyverno["mirror"], mirror.as_str());
    assert!(str_of(&kyverno["rootRaw"]).contains("CONTENTS OF 1.root.json"));
    for file in [
        "tuf/policy-controller-trustroot.yaml",
        "tuf/kyverno-values.yaml",
    ] {
        let text = read(file);
        assert!(
            text.contains(&format!("{mirror}/1.root.json")) && text.contains("trusted_root.json"),
            "{file} says where the root is and which target is read"
        );
    }

    let server = common::TestServer::start(&[]);
    let base = server.base_url();
    let served_root = reqwest::get(format!("{base}/tuf/1.root.json"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let bin = w.join("bin");
    std::fs::create_dir(&bin).unwrap();
    let cosign = bin.join("cosign");
    std::fs::write(
        &cosign,
        "#!/bin/sh\nprintf '%s\\n' \"$@\" > \"$OUT/args\"\n\
         while [ $# -gt 0 ]; do [ \"$1\" = --root ] && cp \"$2\" \"$OUT/root.json\"; shift; done\n",
    )
    .unwrap();
    std::fs::set_permissions(
        &cosign,
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    let initialize = |args: &[&str]| {
        let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
        let _ = std::fs::remove_file(w.join("args"));
        Command::new("sh")
            .arg(deploy("tuf/cosign-initialize.sh"))
            .args(args)
            .env("PATH", path)
            .env("OUT", w)
            .output()
            .unwrap()
    };

    // Trust on first use: the script fetches 1.root.json and prints its digest.
    let out = initialize(&[&base]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let args = std::fs::read_to_string(w.join("args")).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(
        args[..3],
        ["initialize", "--mirror", &format!("{base}/tuf")]
    );
    assert_eq!(args[3], "--root");
    assert_eq!(std::fs::read(w.join("root.json")).unwrap(), served_root);
    let digest = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&served_root));
    assert!(stderr.contains(&digest), "{stderr}");

    // A root taken out of band is passed as it is; a trailing slash changes nothing.
    std::fs::write(w.join("given.json"), &served_root).unwrap();
    let given = w.join("given.json");
    let out = initialize(&[&format!("{base}/"), common::path(&given)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let args = std::fs::read_to_string(w.join("args")).unwrap();
    assert_eq!(
        args.lines().collect::<Vec<_>>(),
        [
            "initialize",
            "--mirror",
            &format!("{base}/tuf"),
            "--root",
            common::path(&given)
        ]
    );

    // A URL with no TUF repository under it: refused before cosign runs.
    let out = initialize(&[&format!("{base}/api")]);
    assert!(!out.status.success());
    assert!(!w.join("args").exists());

    // The mirror and root given to cosign are a repository a TUF client bootstraps from.
    let got =
        common::tuf::refresh(&w.join("client"), &format!("{base}/tuf"), Some(&given)).unwrap();
    assert_eq!(got["root"], 1, "{got}");
    let trusted_root = reqwest::get(format!("{base}/api/v1/log/trustedRoot"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        std::fs::read(w.join("client/dl/trusted_root.json")).unwrap(),
        trusted_root
    );
}

/// `deploy/postgres/`: on the database side a synchronous standby is required (Patroni's strict
/// synchronous mode, CloudNativePG's quorum with `dataDurability: required`); the frontends'
/// configs are valid server configs whose `storage` reaches the primary (every Patroni node with
/// `target_session_attrs=read-write`, or the operator's `-rw` Service, user and database); the
/// Deployment mounts the files the config names from the Secrets that hold them, probes
/// write-readiness, and its systemd drop-in verifies with the unit.
#[test]
fn postgres_examples_agree_with_the_server_and_each_other() {
    // Patroni.
    let patroni = &yaml_documents("postgres/patroni/patroni.yml")[0];
    let dcs = &patroni["bootstrap"]["dcs"];
    assert_eq!(dcs["synchronous_mode"], true);
    assert_eq!(dcs["synchronous_mode_strict"], true);
    assert_eq!(dcs["postgresql"]["use_pg_rewind"], true);
    let config: Config = toml::from_str(&read("postgres/patroni/arkivo.toml")).unwrap();
    config.validate().unwrap();
    let storage = config.storage.as_deref().unwrap();
    assert!(
        storage.contains("target_session_attrs=read-write"),
        "{storage}"
    );
    // Every node (the etcd members run beside them) is listed at PostgreSQL's port.
    let port = port_of(str_of(&patroni["postgresql"]["connect_address"]));
    for etcd in patroni["etcd3"]["hosts"].as_array().unwrap() {
        let host = str_of(etcd).rsplit_once(':').unwrap().0;
        assert!(
            storage.contains(&format!("{host}:{port}")),
            "{host}: {storage}"
        );
    }
    assert!(
        storage.contains(str_of(&patroni["postgresql"]["connect_address"])),
        "{storage}"
    );

    // The drop-in verifies with the unit, and hands over the password file the config lacks.
    let dropin = read("postgres/patroni/arkivo-postgres.conf");
    assert!(config.storage_password_file.is_none());
    assert!(dropin.contains("Environment=ARKIVO_STORAGE_PASSWORD_FILE=%d/"));
    let dir = tempfile::tempdir().unwrap();
    let exec = unit_settings()
        .into_iter()
        .find(|(k, _)| k == "ExecStart")
        .unwrap()
        .1;
    let binary = exec.split(' ').next().unwrap();
    let unit = dir.path().join("arkivo.service");
    std::fs::write(
        &unit,
        read("arkivo.service").replace(binary, env!("CARGO_BIN_EXE_arkivo")),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("arkivo.service.d")).unwrap();
    std::fs::write(dir.path().join("arkivo.service.d/postgres.conf"), &dropin).unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        // Drop-ins are found along the unit path.
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.path().display()))
        .output()
        .expect("systemd-analyze (Debian package systemd; scripts/setup installs it)");
    assert!(
        out.status.success() && out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // CloudNativePG.
    let database = yaml_documents("postgres/cloudnativepg/cluster.yaml");
    let cluster = of_kind(&database, "Cluster");
    let spec = &cluster["spec"];
    assert_eq!(spec["instances"], 3);
    let sync = &spec["postgresql"]["synchronous"];
    assert_eq!(sync["method"], "any");
    assert_eq!(sync["number"], 1);
    assert_eq!(sync["dataDurability"], "required");
    let initdb = &spec["bootstrap"]["initdb"];
    let name = str_of(&cluster["metadata"]["name"]);
    let app_secret = str_of(&initdb["secret"]["name"]);
    assert_eq!(of_kind(&database, "Secret")["metadata"]["name"], app_secret);

    let docs = yaml_documents("postgres/cloudnativepg/arkivo.yaml");
    let config: Config =
        toml::from_str(str_of(&of_kind(&docs, "ConfigMap")["data"]["arkivo.toml"])).unwrap();
    config.validate().unwrap();
    let storage = config.storage.as_deref().unwrap();
    let want = format!(
        "postgres://{}@{name}-rw:5432/{}?",
        str_of(&initdb["owner"]),
        str_of(&initdb["database"])
    );
    assert!(storage.starts_with(&want), "{storage} is not {want}…");
    let deployment = of_kind(&docs, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_restricted(container);
    assert_restricted(&pod["initContainers"][0]);
    let volume = |name: &str| {
        pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    // Each file the config names is in the volume mounted there, from the right Secret.
    for (file, volume_name, secret) in [
        (
            &config.storage_password_file,
            "db-password",
            app_secret.to_owned(),
        ),
        (&config.storage_ca_file, "db-ca", format!("{name}-ca")),
    ] {
        let file = file.as_ref().unwrap();
        assert_eq!(
            file.parent().unwrap(),
            Path::new(mount(container, volume_name))
        );
        let v = &volume(volume_name)["secret"];
        assert_eq!(v["secretName"], secret.as_str());
        let item = file.file_name().unwrap().to_str().unwrap();
        assert!(
            v["items"]
                .as_array()
                .unwrap()
                .iter()
                .any(|i| i["path"] == item)
        );
    }
    for key in [&config.ecdsa_key_file, &config.ed25519_key_file] {
        let key = key.as_ref().unwrap();
        assert_eq!(key.parent().unwrap(), Path::new(mount(container, "keys")));
    }
    assert_eq!(
        Path::new(mount(container, "data")),
        config.data_dir.as_path()
    );
}
