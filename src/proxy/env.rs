//! The environment that sends an unchanged app's Twilio traffic to Switchboard's proxy: the proxy
//! variables in every spelling some SDK reads, and the CA variables each HTTP stack honours
//! (see docs/zero-code.md for the table of which SDK reads what).

use super::ca::{ClientFiles, TRUSTSTORE_PASSWORD};

/// How `switchboard env` prints the variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// `export NAME='VALUE'` lines, for `eval "$(switchboard env)"`.
    #[default]
    Posix,
    /// `NAME=VALUE` lines, for `--env-file`, `$GITHUB_ENV` and dotenv loaders.
    Dotenv,
    /// One JSON object.
    Json,
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "posix" | "sh" => Ok(Format::Posix),
            "dotenv" | "env" => Ok(Format::Dotenv),
            "json" => Ok(Format::Json),
            other => Err(format!("unknown format {other:?}: use posix, dotenv or json")),
        }
    }
}

/// The variables, in print order. `proxy` is `host:port` of the proxy; `local_hosts` are extra
/// names that must not go through it (Switchboard's own API host, say).
pub fn variables(proxy: &str, files: &ClientFiles, local_hosts: &[String]) -> Vec<(String, String)> {
    let url = format!("http://{proxy}");
    let (proxy_host, proxy_port) = split_host_port(proxy);
    let mut no_proxy: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "::1".into()];
    for h in local_hosts {
        if !h.is_empty() && !no_proxy.contains(h) && !h.ends_with("twilio.com") {
            no_proxy.push(h.clone());
        }
    }
    let java_non_proxy = no_proxy.iter().map(|h| if h.contains(':') { format!("[{h}]") } else { h.clone() });
    let java_non_proxy = java_non_proxy.collect::<Vec<_>>().join("|");
    let bundle = files.bundle.display().to_string();
    let java = [
        format!("-Dhttps.proxyHost={proxy_host}"),
        format!("-Dhttps.proxyPort={proxy_port}"),
        format!("-Dhttp.proxyHost={proxy_host}"),
        format!("-Dhttp.proxyPort={proxy_port}"),
        format!("-Dhttp.nonProxyHosts={java_non_proxy}"),
        format!("-Djavax.net.ssl.trustStore={}", files.truststore.display()),
        "-Djavax.net.ssl.trustStoreType=JKS".to_string(),
        format!("-Djavax.net.ssl.trustStorePassword={TRUSTSTORE_PASSWORD}"),
    ]
    .join(" ");
    let no_proxy = no_proxy.join(",");
    let pairs: [(&str, String); 12] = [
        // Python requests, Go, .NET, Ruby, PHP/curl, twilio-cli (axios).
        ("HTTPS_PROXY", url.clone()),
        ("https_proxy", url.clone()),
        // twilio-node reads this one only (uppercase, exact), for https URLs too.
        ("HTTP_PROXY", url.clone()),
        ("http_proxy", url),
        ("NO_PROXY", no_proxy.clone()),
        ("no_proxy", no_proxy),
        // Python requests (either one; each replaces certifi's roots, hence the bundle).
        ("REQUESTS_CA_BUNDLE", bundle.clone()),
        ("CURL_CA_BUNDLE", bundle.clone()),
        // OpenSSL-based stacks: Go and .NET on Linux, Ruby, Python's ssl module (aiohttp).
        ("SSL_CERT_FILE", bundle),
        // Node adds this CA to its roots (read once at start).
        ("NODE_EXTRA_CA_CERTS", files.ca_cert.display().to_string()),
        // PHP: libcurl ignores the variables above; an ini file sets curl.cainfo. The leading
        // ':' keeps PHP's own scan directory.
        ("PHP_INI_SCAN_DIR", format!(":{}", files.php_dir.display())),
        // Java reads no proxy variable: system properties through the JVM's launcher.
        ("JAVA_TOOL_OPTIONS", java),
    ];
    pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// Splits `host:port` (`[::1]:8081` too).
fn split_host_port(addr: &str) -> (String, String) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']').to_string(), port.to_string()),
        None => (addr.to_string(), "80".to_string()),
    }
}

/// The variables in `format`, one per line (JSON: one object).
pub fn render(vars: &[(String, String)], format: Format) -> String {
    match format {
        Format::Posix => vars.iter().map(|(k, v)| format!("export {k}='{}'\n", v.replace('\'', "'\\''"))).collect(),
        Format::Dotenv => vars.iter().map(|(k, v)| format!("{k}={v}\n")).collect(),
        Format::Json => {
            let map: serde_json::Map<String, serde_json::Value> =
                vars.iter().map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone()))).collect();
            format!("{}\n", serde_json::Value::Object(map))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn files() -> ClientFiles {
        ClientFiles {
            ca_cert: PathBuf::from("/d/ca.pem"),
            bundle: PathBuf::from("/d/ca-bundle.pem"),
            truststore: PathBuf::from("/d/truststore.jks"),
            php_dir: PathBuf::from("/d/php"),
        }
    }

    fn get<'a>(vars: &'a [(String, String)], name: &str) -> &'a str {
        vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("{name} missing"))
    }

    #[test]
    fn every_sdk_finds_the_proxy_and_the_ca_in_the_spelling_it_reads() {
        let vars = variables("127.0.0.1:8081", &files(), &["sb.local".into()]);
        for name in ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"] {
            assert_eq!(get(&vars, name), "http://127.0.0.1:8081");
        }
        assert_eq!(get(&vars, "NO_PROXY"), "localhost,127.0.0.1,::1,sb.local");
        assert!(!get(&vars, "NO_PROXY").contains("twilio"));
        for name in ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"] {
            assert_eq!(get(&vars, name), "/d/ca-bundle.pem");
        }
        assert_eq!(get(&vars, "NODE_EXTRA_CA_CERTS"), "/d/ca.pem");
        assert_eq!(get(&vars, "PHP_INI_SCAN_DIR"), ":/d/php");
        let java = get(&vars, "JAVA_TOOL_OPTIONS");
        assert!(java.contains("-Dhttps.proxyHost=127.0.0.1 -Dhttps.proxyPort=8081"), "{java}");
        assert!(java.contains("-Dhttp.nonProxyHosts=localhost|127.0.0.1|[::1]|sb.local"), "{java}");
        assert!(java.contains("-Djavax.net.ssl.trustStore=/d/truststore.jks"), "{java}");
    }

    #[test]
    fn posix_output_quotes_values_so_eval_reads_them_back_verbatim() {
        let vars = vec![("A".to_string(), "it's $HOME".to_string())];
        assert_eq!(render(&vars, Format::Posix), "export A='it'\\''s $HOME'\n");
        assert_eq!(render(&vars, Format::Dotenv), "A=it's $HOME\n");
        assert_eq!(render(&vars, Format::Json), "{\"A\":\"it's $HOME\"}\n");
    }

    #[test]
    fn formats_are_named_posix_dotenv_and_json() {
        assert_eq!("posix".parse::<Format>(), Ok(Format::Posix));
        assert_eq!("dotenv".parse::<Format>(), Ok(Format::Dotenv));
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert!("yaml".parse::<Format>().is_err());
    }
}
