//! Where the login service and Graph live: the national clouds, or explicit
//! URLs (the emulator). TLS is never optional: plain http:// is accepted only
//! for loopback hosts, which is how tests and rehearsals reach the emulator.

use std::net::IpAddr;

use url::Url;

use super::GraphError;

/// The login authority and the Graph base URL of one cloud.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// e.g. `https://login.microsoftonline.com` (no tenant, no trailing path).
    pub login: Url,
    /// e.g. `https://graph.microsoft.com` (no version segment).
    pub graph: Url,
    /// The resource whose `/.default` scope tokens are requested for.
    pub resource: String,
}

/// The national clouds Graph is deployed in (GRAPH.md §6.1).
pub const CLOUDS: &[(&str, &str, &str)] = &[
    (
        "global",
        "https://login.microsoftonline.com",
        "https://graph.microsoft.com",
    ),
    (
        "usgov",
        "https://login.microsoftonline.us",
        "https://graph.microsoft.us",
    ),
    (
        "usgov-dod",
        "https://login.microsoftonline.us",
        "https://dod-graph.microsoft.us",
    ),
    (
        "china",
        "https://login.partner.microsoftonline.cn",
        "https://microsoftgraph.chinacloudapi.cn",
    ),
];

impl Endpoints {
    /// The global cloud.
    pub fn global() -> Endpoints {
        Self::cloud("global").unwrap_or_else(|_| unreachable!("global is in CLOUDS"))
    }

    /// A named cloud from [`CLOUDS`].
    pub fn cloud(name: &str) -> Result<Endpoints, GraphError> {
        let (_, login, graph) = CLOUDS
            .iter()
            .find(|(n, _, _)| n.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                GraphError::input(
                    format!("unknown cloud '{name}'"),
                    "use one of: global, usgov, usgov-dod, china (or give --login-url and --graph-url)",
                )
            })?;
        Self::new(login, graph)
    }

    /// Endpoints from explicit URLs; both must be https, or http on a loopback host.
    pub fn new(login: &str, graph: &str) -> Result<Endpoints, GraphError> {
        let login = parse_base(login, "--login-url")?;
        let graph = parse_base(graph, "--graph-url")?;
        let resource = graph.as_str().trim_end_matches('/').to_string();
        Ok(Endpoints {
            login,
            graph,
            resource,
        })
    }

    /// Resolve the CLI choice: explicit URLs win over `--cloud`; the default is global.
    /// When only one URL is given, the other follows it (the emulator serves both).
    pub fn resolve(
        cloud: Option<&str>,
        login: Option<&str>,
        graph: Option<&str>,
    ) -> Result<Endpoints, GraphError> {
        let base = Self::cloud(cloud.unwrap_or("global"))?;
        match (login, graph) {
            (None, None) => Ok(base),
            (Some(l), None) if cloud.is_none() => Self::new(l, l),
            (None, Some(g)) if cloud.is_none() => Self::new(g, g),
            (l, g) => Self::new(
                l.unwrap_or(base.login.as_str()),
                g.unwrap_or(base.graph.as_str()),
            ),
        }
    }

    /// The named cloud whose Graph host this is (None: the emulator or a custom URL).
    pub fn cloud_name(&self) -> Option<&'static str> {
        let host = self.graph.host_str()?;
        CLOUDS
            .iter()
            .find(|(_, _, g)| {
                Url::parse(g)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| h == host))
                    == Some(true)
            })
            .map(|(n, _, _)| *n)
    }

    /// Why a FIDO2 call cannot be made on this cloud, per the docs' national
    /// cloud tables: v1.0 creationOptions and POST are documented for the
    /// global service only (US Gov L4 ✗, L5 ✗, China ✗); the beta pages state
    /// no availability. None: documented (or not a named cloud).
    pub fn provisioning_unavailable(&self, beta: bool) -> Option<String> {
        match self.cloud_name() {
            Some(name) if name != "global" && !beta => Some(format!(
                "v1.0 creationOptions and FIDO2 registration are documented for the global cloud only, not '{name}' (fido2authenticationmethod-creationoptions.md national cloud table)"
            )),
            _ => None,
        }
    }

    /// True when both hosts are loopback (the only place http:// and virtual keys may go).
    pub fn is_loopback(&self) -> bool {
        is_loopback(&self.login) && is_loopback(&self.graph)
    }

    /// `{login}/{tenant}/oauth2/v2.0/{leaf}`.
    pub fn oauth_url(&self, tenant: &str, leaf: &str) -> String {
        format!(
            "{}/{}/oauth2/v2.0/{}",
            self.login.as_str().trim_end_matches('/'),
            urlencode_segment(tenant),
            leaf
        )
    }

    /// Whether `link` (an `@odata.nextLink`) may carry the bearer token: parsed,
    /// it has Graph's scheme, host and port, no user info, and a path under
    /// Graph's base path. A string-prefix test would let
    /// `http://127.0.0.1:41001/…` or `http://127.0.0.1:4100@evil/…` through.
    pub fn is_graph_link(&self, link: &str) -> bool {
        let Ok(url) = Url::parse(link) else {
            return false;
        };
        let base = &self.graph;
        let base_path = base.path().trim_end_matches('/');
        url.scheme() == base.scheme()
            && url.username().is_empty()
            && url.password().is_none()
            && url.host() == base.host()
            && url.port_or_known_default() == base.port_or_known_default()
            && (url.path() == base_path
                || url
                    .path()
                    .strip_prefix(base_path)
                    .is_some_and(|rest| rest.starts_with('/')))
    }

    /// `{graph}/{version}{path}`; `path` starts with '/'.
    pub fn graph_url(&self, version: ApiVersion, path: &str) -> String {
        format!(
            "{}/{}{}",
            self.graph.as_str().trim_end_matches('/'),
            version.as_str(),
            path
        )
    }
}

/// Graph API version segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiVersion {
    V1,
    Beta,
}

impl ApiVersion {
    /// Read "v1.0" / "beta".
    pub fn parse(text: &str) -> Option<ApiVersion> {
        match text {
            "v1.0" => Some(ApiVersion::V1),
            "beta" => Some(ApiVersion::Beta),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ApiVersion::V1 => "v1.0",
            ApiVersion::Beta => "beta",
        }
    }
}

/// True when the URL's host is a loopback address or `localhost`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(a)) => IpAddr::V4(a).is_loopback(),
        Some(url::Host::Ipv6(a)) => IpAddr::V6(a).is_loopback(),
        None => false,
    }
}

fn parse_base(text: &str, flag: &str) -> Result<Url, GraphError> {
    let url = Url::parse(text).map_err(|e| {
        GraphError::input(
            format!("{flag} '{text}' is not a URL: {e}"),
            "give a base URL such as https://graph.microsoft.com",
        )
    })?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&url) => {}
        "http" => {
            return Err(GraphError::input(
                format!("{flag} '{text}' uses plain http on a non-loopback host"),
                "use https; plain http is only allowed for 127.0.0.1/localhost (the emulator)",
            ))
        }
        other => {
            return Err(GraphError::input(
                format!("{flag} '{text}' has unsupported scheme '{other}'"),
                "use an https:// URL",
            ))
        }
    }
    if url.host().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(GraphError::input(
            format!("{flag} '{text}' must be a bare base URL"),
            "remove any query or fragment; give scheme and host, e.g. https://graph.microsoft.com",
        ));
    }
    Ok(url)
}

/// Percent-encode one path segment (UPNs carry '@'; method ids are opaque).
pub fn urlencode_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_provisioning_is_documented_for_the_global_cloud_only() {
        assert_eq!(Endpoints::global().cloud_name(), Some("global"));
        assert!(Endpoints::global()
            .provisioning_unavailable(false)
            .is_none());
        for c in ["usgov", "usgov-dod", "china"] {
            let e = Endpoints::cloud(c).unwrap();
            assert_eq!(e.cloud_name(), Some(c));
            assert!(e
                .provisioning_unavailable(false)
                .unwrap()
                .contains("global cloud only"));
            assert!(
                e.provisioning_unavailable(true).is_none(),
                "beta: not stated"
            );
        }
        let emu = Endpoints::new("http://127.0.0.1:9", "http://127.0.0.1:9").unwrap();
        assert_eq!(emu.cloud_name(), None);
    }

    #[test]
    fn http_only_for_loopback() {
        assert!(Endpoints::new("http://127.0.0.1:9", "http://localhost:9").is_ok());
        assert!(Endpoints::new("http://[::1]:9", "http://127.0.0.1:9")
            .unwrap()
            .is_loopback());
        assert!(Endpoints::new("http://login.example.com", "https://g.example.com").is_err());
        assert!(Endpoints::new("ftp://x", "https://g").is_err());
        assert!(!Endpoints::global().is_loopback());
    }

    #[test]
    fn next_links_must_have_graphs_scheme_host_and_port() {
        let e = Endpoints::new("http://127.0.0.1:4100", "http://127.0.0.1:4100").unwrap();
        assert!(e.is_graph_link("http://127.0.0.1:4100/v1.0/users?$skiptoken=2"));
        for bad in [
            "http://127.0.0.1:41001/v1.0/users",
            "http://127.0.0.1:4100@evil.example/v1.0/users",
            "http://user:pw@127.0.0.1:4100/v1.0/users",
            "https://127.0.0.1:4100/v1.0/users",
            "http://127.0.0.2:4100/v1.0/users",
            "http://localhost:4100/v1.0/users",
            "//127.0.0.1:4100/v1.0/users",
            "not a url",
        ] {
            assert!(!e.is_graph_link(bad), "{bad}");
        }
        let g = Endpoints::global();
        assert!(g.is_graph_link("https://graph.microsoft.com/v1.0/users?$skiptoken=x"));
        assert!(g.is_graph_link("https://GRAPH.microsoft.com:443/beta/users"));
        assert!(!g.is_graph_link("https://graph.microsoft.com.evil.example/v1.0/users"));
        assert!(!g.is_graph_link("https://graph.microsoft.com:8443/v1.0/users"));
        let sub = Endpoints::new("https://l.example", "https://g.example/graph").unwrap();
        assert!(sub.is_graph_link("https://g.example/graph/v1.0/x"));
        assert!(!sub.is_graph_link("https://g.example/graphevil/v1.0/x"));
    }

    #[test]
    fn clouds_and_urls() {
        let gov = Endpoints::cloud("usgov").unwrap();
        assert_eq!(gov.graph.host_str(), Some("graph.microsoft.us"));
        assert!(Endpoints::cloud("mars").is_err());
        let e = Endpoints::resolve(None, None, Some("http://127.0.0.1:5")).unwrap();
        assert_eq!(e.login, e.graph);
        assert_eq!(
            e.oauth_url("contoso.onmicrosoft.com", "token"),
            "http://127.0.0.1:5/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        assert_eq!(urlencode_segment("bg1@c.com"), "bg1%40c.com");
    }
}
