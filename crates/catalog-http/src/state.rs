//! What every handler shares.

use catalog_domain::CatalogService;

/// Allowed CORS origins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CorsOrigins {
    /// `CATALOG_CORS_ORIGINS` unset: any origin may read (GET/HEAD); browser
    /// writes need an explicit setting.
    DefaultReadOnly,
    /// `*`: any origin, every method.
    Any,
    /// These exact origins, every method.
    List(Vec<String>),
}

impl CorsOrigins {
    /// Parses `CATALOG_CORS_ORIGINS` (comma list, `*` allowed).
    pub fn parse(raw: Option<&str>) -> Self {
        match raw.map(str::trim) {
            None | Some("") => CorsOrigins::DefaultReadOnly,
            Some(v) => {
                let list: Vec<String> = v
                    .split(',')
                    .map(|s| s.trim().trim_end_matches('/').to_string())
                    .filter(|s| !s.is_empty())
                    .collect();
                if list.iter().any(|s| s == "*") {
                    CorsOrigins::Any
                } else {
                    CorsOrigins::List(list)
                }
            }
        }
    }
}

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    pub cors: CorsOrigins,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            cors: CorsOrigins::DefaultReadOnly,
        }
    }
}

/// Shared application state.
#[derive(Debug, Clone)]
pub struct AppState {
    pub service: CatalogService,
    pub config: HttpConfig,
}
