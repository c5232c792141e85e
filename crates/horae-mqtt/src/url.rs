//! Parsing `mqtt://[user[:password]@]host[:port]` server URLs.

use horae::error::BrokerError;

/// The MQTT port used when the URL names none.
const DEFAULT_PORT: u16 = 1883;

/// Where and how to connect, read from a URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) credentials: Option<(String, String)>,
}

/// Parses `mqtt://[user[:password]@]host[:port][/]` (or `tcp://`).
pub(crate) fn parse(url: &str) -> Result<ServerUrl, BrokerError> {
    let invalid = |why: &str| BrokerError::Invalid(format!("invalid mqtt url '{url}': {why}"));
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| invalid("expected mqtt://host[:port]"))?;
    if !matches!(scheme, "mqtt" | "tcp") {
        return Err(invalid(&format!(
            "unsupported scheme '{scheme}' (expected mqtt or tcp; TLS is not supported)"
        )));
    }
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains(['/', '?', '#']) {
        return Err(invalid("a path or query is not supported"));
    }
    let (credentials, address) = match rest.rsplit_once('@') {
        Some((userinfo, address)) => {
            let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
            (Some((user.to_owned(), password.to_owned())), address)
        }
        None => (None, rest),
    };
    let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
        // An IPv6 address: `[::1]` or `[::1]:1883`.
        let (host, after) = bracketed
            .split_once(']')
            .ok_or_else(|| invalid("unclosed '[' in the host"))?;
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or_else(|| invalid("expected ':port' after the host"))?,
            ),
        };
        (host, port)
    } else {
        match address.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        }
    };
    if host.is_empty() {
        return Err(invalid("the host is empty"));
    }
    let port = match port {
        Some(port) => port
            .parse::<u16>()
            .map_err(|_| invalid(&format!("invalid port '{port}'")))?,
        None => DEFAULT_PORT,
    };
    Ok(ServerUrl {
        host: host.to_owned(),
        port,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_host_port_and_credentials() {
        let plain = parse("mqtt://127.0.0.1:1883").unwrap();
        assert_eq!((plain.host.as_str(), plain.port), ("127.0.0.1", 1883));
        assert_eq!(plain.credentials, None);
        let defaulted = parse("tcp://broker.local/").unwrap();
        assert_eq!(
            (defaulted.host.as_str(), defaulted.port),
            ("broker.local", 1883)
        );
        let login = parse("mqtt://horae:s3cret@[::1]:1884").unwrap();
        assert_eq!((login.host.as_str(), login.port), ("::1", 1884));
        assert_eq!(login.credentials, Some(("horae".into(), "s3cret".into())));
    }

    #[test]
    fn bad_urls_are_named_in_the_error() {
        for (url, why) in [
            ("127.0.0.1:1883", "expected mqtt://host[:port]"),
            ("mqtts://host", "unsupported scheme 'mqtts'"),
            ("mqtt://host:99999", "invalid port '99999'"),
            ("mqtt://:1883", "the host is empty"),
            ("mqtt://host/topic", "a path or query is not supported"),
        ] {
            let error = parse(url).unwrap_err().to_string();
            assert!(
                error.starts_with(&format!(
                    "invalid broker settings: invalid mqtt url '{url}': {why}"
                )),
                "{error}"
            );
        }
    }
}
