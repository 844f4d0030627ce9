//! The console's pages, script, style and the bundled players, embedded in the binary: the
//! console needs no files beside it and fetches nothing from the internet.

/// One embedded file.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// `Content-Type`.
    pub content_type: &'static str,
    /// The bytes.
    pub body: &'static [u8],
}

/// The page of the console, for people signed in.
pub const INDEX: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../console/index.html"),
};

/// The sign-in page.
pub const LOGIN: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_bytes!("../../console/login.html"),
};

/// The file served at `/assets/{name}`.
pub fn asset(name: &str) -> Option<Asset> {
    let (content_type, body): (&str, &[u8]) = match name {
        "app.js" => (JS, include_bytes!("../../console/app.js")),
        "app.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../../console/app.css"),
        ),
        "vendor/hls.min.js" => (JS, include_bytes!("../../console/vendor/hls.min.js")),
        "vendor/dash.all.min.js" => (JS, include_bytes!("../../console/vendor/dash.all.min.js")),
        _ => return None,
    };
    Some(Asset { content_type, body })
}

const JS: &str = "text/javascript; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_the_page_names_is_embedded() {
        let page = std::str::from_utf8(INDEX.body).unwrap();
        let mut named = 0;
        for part in page.split("/assets/").skip(1) {
            let name: String = part
                .chars()
                .take_while(|c| !matches!(c, '"' | '\'' | '?' | '#'))
                .collect();
            assert!(asset(&name).is_some(), "{name} is not embedded");
            named += 1;
        }
        assert!(named >= 2, "index.html names app.js and app.css");
        let app = std::str::from_utf8(asset("app.js").unwrap().body).unwrap();
        for player in [
            "/assets/vendor/hls.min.js",
            "/assets/vendor/dash.all.min.js",
        ] {
            assert!(app.contains(player), "app.js loads {player}");
            let name = player.trim_start_matches("/assets/");
            assert!(asset(name).unwrap().body.len() > 100_000, "{name}");
        }
        assert!(asset("../Cargo.toml").is_none());
    }
}
