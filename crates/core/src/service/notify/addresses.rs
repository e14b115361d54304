//! Where the server may send a push or a webhook: `https` URLs on public addresses, unless the operator
//! allows plain `http` or private networks (no server-side request forgery through a subscription).
//! Checked when a subscription is made (its host, if an address, or a local name) and again by the sender
//! on every address a name resolves to.

use std::net::IpAddr;

/// What the operator allows beyond public `https` URLs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// The longest endpoint or webhook URL taken.
pub const MAX_URL_CHARS: usize = 2048;

impl AddressPolicy {
    /// Whether a request may go to this address.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }

    /// Checks a URL before it is kept: scheme, host, and an address host against `allows_ip`. Answers the
    /// reason it is refused.
    pub fn check_url(&self, url: &str) -> Result<(), &'static str> {
        if url.len() > MAX_URL_CHARS {
            return Err("is longer than 2048 characters");
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("is not a URL");
        }
        let rest = if let Some(rest) = url.strip_prefix("https://") {
            rest
        } else if let Some(rest) = url.strip_prefix("http://") {
            if !self.allow_http {
                return Err("must be https");
            }
            rest
        } else {
            return Err("must be an https URL");
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.contains('@') {
            return Err("must not carry credentials");
        }
        let host = host_of(authority).ok_or("has no host")?;
        let local_name = host.eq_ignore_ascii_case("localhost")
            || host.to_ascii_lowercase().ends_with(".localhost");
        match host.parse::<IpAddr>() {
            Ok(ip) if !self.allows_ip(ip) => Err("points at a private or loopback address"),
            Err(_) if local_name && !self.allow_private => {
                Err("points at a private or loopback address")
            }
            Err(_)
                if !host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || ".-".contains(c)) =>
            {
                Err("has an invalid host")
            }
            _ => Ok(()),
        }
    }
}

/// The host of `host[:port]` or `[v6]:port`, without brackets.
fn host_of(authority: &str) -> Option<&str> {
    let host = if let Some(v6) = authority.strip_prefix('[') {
        v6.split(']').next()?
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    };
    (!host.is_empty()).then_some(host)
}

/// An address on the public internet: not loopback, private, link-local, shared, documentation,
/// unspecified, multicast or broadcast.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_multicast()
                || v4.is_broadcast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_https_only_by_default() {
        let strict = AddressPolicy::default();
        for ok in [
            "https://push.example.com/x",
            "https://fcm.googleapis.com/fcm/send/abc",
            "https://8.8.8.8:443/hook",
            "https://[2606:4700::1111]/hook",
        ] {
            assert_eq!(strict.check_url(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://push.example.com/x",
            "ftp://example.com",
            "https://",
            "https://user:pass@example.com/",
            "https://127.0.0.1/",
            "https://localhost:8080/",
            "https://api.localhost/",
            "https://10.1.2.3/",
            "https://192.168.0.1/",
            "https://172.16.5.4/",
            "https://169.254.169.254/latest/meta-data",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://exa mple.com/",
            "https://exa_mple.com/",
        ] {
            assert!(strict.check_url(bad).is_err(), "{bad}");
        }
        assert!(
            strict
                .check_url(&format!("https://a.com/{}", "x".repeat(2048)))
                .is_err()
        );
    }

    #[test]
    fn the_operator_may_allow_http_and_private_networks() {
        let open = AddressPolicy {
            allow_http: true,
            allow_private: true,
        };
        assert_eq!(open.check_url("http://127.0.0.1:9000/push/1"), Ok(()));
        assert_eq!(open.check_url("http://localhost:9000/"), Ok(()));
        assert!(open.allows_ip("10.0.0.1".parse().expect("an address")));
    }
}
